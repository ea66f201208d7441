using Trainer.Core.Inference;

namespace Trainer.Core.Latency;

/// <summary>Options of <see cref="LatencyTable.LoadOrMeasure"/>.</summary>
public sealed record LatencyTableOptions
{
    /// <summary>Folder of cached tables; default <c>~/.cache/trainer/latency</c> (or <c>$XDG_CACHE_HOME/trainer/latency</c>).</summary>
    public string CacheDir { get; init; } = DefaultCacheDir();

    /// <summary>Reuse a cached table whose key matches, and save a measured one (default true).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Smallest kept fraction the grid covers (default 0.5); predictions below it are extrapolated.</summary>
    public double Floor { get; init; } = 0.5;

    /// <summary>Channel multiple of the grid's widths (default 8).</summary>
    public int RoundTo { get; init; } = 8;

    /// <summary>Widths per grid axis at most (default 5, from the floor to the full width, evenly over the multiples of
    /// <see cref="RoundTo"/>); latency between them is interpolated linearly.</summary>
    public int GridPoints { get; init; } = 5;

    /// <summary>Timed rounds per measurement (default 7; see <see cref="Quantile"/>). Each round runs every width of one layer shape in turn.</summary>
    public int Rounds { get; init; } = 7;

    /// <summary>Which quantile of the rounds each time is (default 0.5, the median). On a shared machine a lower one
    /// (e.g. 0.2) is less disturbed by other processes, whose interference only ever adds time.</summary>
    public double Quantile { get; init; } = 0.5;

    /// <summary>Memory layout the pieces are timed in: <see cref="MemoryLayout.Contiguous"/> (default) or
    /// <see cref="MemoryLayout.ChannelsLast"/>, matching the model's form (<see cref="MemoryLayout.Fastest"/> is not allowed).</summary>
    public MemoryLayout Layout { get; init; } = MemoryLayout.Contiguous;

    /// <summary>What the pieces are timed in (default <see cref="LatencyEngine.TorchSharp"/>). With
    /// <see cref="LatencyEngine.OnnxRuntime"/> the layout must be <see cref="MemoryLayout.Contiguous"/>: ONNX Runtime chooses
    /// its own (blocked NCHWc where the channel counts allow it).</summary>
    public LatencyEngine Engine { get; init; } = LatencyEngine.TorchSharp;

    /// <summary>ONNX Runtime's intra-op threads under <see cref="LatencyEngine.OnnxRuntime"/>; 0 (default) = TorchSharp's thread
    /// count, so both engines are timed with the same threads.</summary>
    public int OnnxThreads { get; init; }

    /// <summary>The intra-op threads ONNX Runtime is timed with: <see cref="OnnxThreads"/>, or TorchSharp's count when 0.</summary>
    public int EffectiveOnnxThreads => OnnxThreads > 0 ? OnnxThreads : TorchSharp.torch.get_num_threads();

    /// <summary>The default cache folder.</summary>
    public static string DefaultCacheDir()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "trainer", "latency");
    }

    /// <summary>Throws a clear <see cref="ArgumentException"/> for out-of-range values.</summary>
    internal void Validate()
    {
        if (!(Floor > 0 && Floor <= 1)) throw new ArgumentException($"LatencyTableOptions.Floor must be in (0, 1], got {Floor}");
        if (RoundTo < 1) throw new ArgumentException($"LatencyTableOptions.RoundTo must be at least 1, got {RoundTo}");
        if (GridPoints < 2) throw new ArgumentException($"LatencyTableOptions.GridPoints must be at least 2, got {GridPoints}");
        if (Rounds < 1) throw new ArgumentException($"LatencyTableOptions.Rounds must be at least 1, got {Rounds}");
        if (!(Quantile > 0 && Quantile <= 1)) throw new ArgumentException($"LatencyTableOptions.Quantile must be in (0, 1], got {Quantile}");
        if (Layout == MemoryLayout.Fastest)
            throw new ArgumentException("LatencyTableOptions.Layout must be Contiguous or ChannelsLast (the layout the model runs in)");
        if (!Enum.IsDefined(Engine)) throw new ArgumentException($"LatencyTableOptions.Engine {Engine} is unknown; accepted: TorchSharp, OnnxRuntime");
        if (Engine == LatencyEngine.OnnxRuntime && Layout != MemoryLayout.Contiguous)
            throw new ArgumentException("LatencyTableOptions.Layout must be Contiguous with Engine = OnnxRuntime (ONNX Runtime picks its own layout)");
        if (OnnxThreads < 0) throw new ArgumentException($"LatencyTableOptions.OnnxThreads must be 0 (TorchSharp's count) or more, got {OnnxThreads}");
        if (UseCache && string.IsNullOrWhiteSpace(CacheDir)) throw new ArgumentException("LatencyTableOptions.CacheDir is empty");
    }
}
