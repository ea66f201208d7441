using System.Diagnostics;
using Trainer.Abstractions;
using TorchSharp;
using SummaryWriter = TorchSharp.Modules.SummaryWriter;

namespace Trainer.Core.Callbacks;

/// <summary>Settings of <see cref="TensorBoardCallback"/>.</summary>
public sealed record TensorBoardOptions
{
    /// <summary>
    /// Write the training losses every this many global steps, as the mean over the steps since
    /// the previous write. Must be at least 1. Default 50.
    /// </summary>
    public int LogEveryNSteps { get; init; } = 50;

    /// <summary>Write a histogram of every network parameter at the end of each epoch. Default true.</summary>
    public bool WeightHistograms { get; init; } = true;
}

/// <summary>
/// Writes the training run to TensorBoard event files through a TorchSharp
/// <see cref="SummaryWriter"/>:
/// <list type="bullet">
/// <item>"train/&lt;loss name&gt;" every <see cref="TensorBoardOptions.LogEveryNSteps"/> global steps
/// (x axis: global step, value: mean since the previous write);</item>
/// <item>every validation metric ("val/...") after each validation pass;</item>
/// <item>"lr", "time/epoch_seconds", the "train/epoch_..." metrics and, optionally,
/// "weights/&lt;parameter name&gt;" histograms at the end of each epoch.</item>
/// </list>
/// Per-epoch values use the x value epoch + 1, so the first epoch is plotted at 1.
/// The writer flushes each record as it is added, so nothing needs closing.
/// </summary>
public sealed class TensorBoardCallback : TrainerCallback
{
    private readonly Lazy<SummaryWriter> _writer;
    private readonly Dictionary<string, (double Sum, int Count)> _pending = new(StringComparer.Ordinal);
    private long _epochStartTimestamp = -1;

    /// <summary>Create the callback.</summary>
    /// <param name="writer">Writer the events go to; the caller chooses its log directory.</param>
    /// <param name="options">Settings; null means the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="TensorBoardOptions.LogEveryNSteps"/> is below 1.</exception>
    public TensorBoardCallback(SummaryWriter writer, TensorBoardOptions? options = null)
        : this(new Lazy<SummaryWriter>(writer ?? throw new ArgumentNullException(nameof(writer))), options)
    {
    }

    /// <summary>
    /// Creates the callback with a writer made on first use: TorchSharp's writer creates its event file at once, and a run
    /// that fails before its first event (a damaged checkpoint on resume) must leave the log folder as it was.
    /// </summary>
    /// <param name="createWriter">Makes the writer the events go to.</param>
    /// <param name="options">Settings; null means the defaults.</param>
    public static TensorBoardCallback Deferred(Func<SummaryWriter> createWriter, TensorBoardOptions? options = null) =>
        new(new Lazy<SummaryWriter>(createWriter ?? throw new ArgumentNullException(nameof(createWriter))), options);

    private TensorBoardCallback(Lazy<SummaryWriter> writer, TensorBoardOptions? options)
    {
        _writer = writer;
        Options = options ?? new TensorBoardOptions();
        if (Options.LogEveryNSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(options), Options.LogEveryNSteps,
                "LogEveryNSteps must be at least 1.");
    }

    /// <summary>The settings in use.</summary>
    public TensorBoardOptions Options { get; }

    /// <summary>The writer the events go to.</summary>
    public SummaryWriter Writer => _writer.Value;

    /// <inheritdoc/>
    public override void OnEpochStart(ITrainingContext context)
        => _epochStartTimestamp = Stopwatch.GetTimestamp();

    /// <summary>
    /// Adds the batch's losses to the running sums; every <see cref="TensorBoardOptions.LogEveryNSteps"/>
    /// global steps writes their means as "train/&lt;name&gt;" at the global step and starts over.
    /// </summary>
    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome)
    {
        foreach (var (name, value) in outcome.Losses)
        {
            _pending.TryGetValue(name, out var acc);
            _pending[name] = (acc.Sum + value, acc.Count + 1);
        }

        var step = context.GlobalStep;
        if (step <= 0 || step % Options.LogEveryNSteps != 0)
            return;

        var x = ToStep(step);
        foreach (var (name, acc) in _pending.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            Writer.add_scalar("train/" + name, (float)(acc.Sum / acc.Count), x);
        _pending.Clear();
    }

    /// <summary>Writes every validation metric under its own name at epoch + 1.</summary>
    public override void OnValidationEnd(ITrainingContext context, IReadOnlyDictionary<string, double> metrics)
    {
        var x = ToStep(context.Epoch + 1L);
        foreach (var (name, value) in metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            Writer.add_scalar(name, (float)value, x);
    }

    /// <summary>
    /// Writes "lr", "time/epoch_seconds", every "train/epoch_..." metric and, when enabled, one
    /// "weights/&lt;parameter name&gt;" histogram per parameter, all at epoch + 1.
    /// </summary>
    public override void OnEpochEnd(ITrainingContext context)
    {
        var x = ToStep(context.Epoch + 1L);
        Writer.add_scalar("lr", (float)context.LearningRate, x);

        if (_epochStartTimestamp >= 0)
        {
            var seconds = Stopwatch.GetElapsedTime(_epochStartTimestamp).TotalSeconds;
            Writer.add_scalar("time/epoch_seconds", (float)seconds, x);
            _epochStartTimestamp = -1;
        }

        foreach (var (name, value) in context.Metrics
                     .Where(kv => kv.Key.StartsWith("train/epoch_", StringComparison.Ordinal))
                     .OrderBy(kv => kv.Key, StringComparer.Ordinal))
            Writer.add_scalar(name, (float)value, x);

        if (Options.WeightHistograms)
            WriteWeightHistograms(context.Network, x);
    }

    /// <summary>
    /// One histogram per parameter. Empty parameters and parameters holding NaN or infinity are
    /// skipped (TensorBoard histograms cannot hold them). Every tensor made here, including the
    /// writer's own intermediates, is disposed before returning.
    /// </summary>
    private void WriteWeightHistograms(torch.nn.Module<torch.Tensor, torch.Tensor> network, int x)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var (name, parameter) in network.named_parameters())
        {
            if (parameter.numel() == 0)
                continue;
            var values = parameter.detach().cpu();
            if (!values.isfinite().all().item<bool>())
                continue;
            Writer.add_histogram("weights/" + name, values, x);
        }
    }

    private static int ToStep(long step)
        => step <= int.MaxValue
            ? (int)step
            : throw new OverflowException($"Step {step} does not fit the writer's 32-bit step.");
}
