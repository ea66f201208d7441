namespace Trainer.Core.Inference;

/// <summary>Which memory layout <see cref="InferenceForm.Apply"/> gives the model.</summary>
public enum MemoryLayout
{
    /// <summary>Time both layouts on the model and keep the faster.</summary>
    Fastest,
    /// <summary>Contiguous NCHW (TorchSharp's default).</summary>
    Contiguous,
    /// <summary>Channels-last (NHWC strides) conv weights, see <see cref="ChannelsLast"/>.</summary>
    ChannelsLast,
}

/// <summary>Options of <see cref="InferenceForm.Apply"/>.</summary>
public sealed record InferenceFormOptions
{
    /// <summary>Fold BatchNorm into the preceding convs (default true).</summary>
    public bool FoldBatchNorm { get; init; } = true;

    /// <summary>The memory layout; <see cref="MemoryLayout.Fastest"/> (default) times both.</summary>
    public MemoryLayout Layout { get; init; } = MemoryLayout.Fastest;

    /// <summary>Alternating timing rounds per layout when choosing the fastest (median per layout); default 7.</summary>
    public int TimingRounds { get; init; } = 7;

    /// <summary>Largest accepted absolute difference between the model's eval output before and after (default 1e-3;
    /// folding in double precision typically leaves about 1e-6).</summary>
    public double Tolerance { get; init; } = 1e-3;

    /// <summary>Batch sizes at which every conv's channels-last result is checked against NCHW and the whole output is
    /// compared (<see cref="ChannelsLastGuard"/>); <see cref="ChannelsLastGuard.DefaultBatchSizes"/> when null.</summary>
    public IReadOnlyList<long>? CheckBatchSizes { get; init; }

    /// <summary>The channels-last conv the guard checks; libtorch's when null. Tests inject a faulty kernel here.</summary>
    public ChannelsLastGuard.ChannelsLastConv? ChannelsLastConv { get; init; }
}
