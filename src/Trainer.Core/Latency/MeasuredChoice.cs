using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>One candidate's predicted and measured batch-1 latency.</summary>
/// <param name="Allocation">The candidate.</param>
/// <param name="MeasuredMs">Median milliseconds per forward pass, measured alternately with the other candidates.</param>
public sealed record MeasuredCandidate(ChannelAllocation Allocation, double MeasuredMs);

/// <summary>
/// Picks the fastest of several allocations by timing them, not by the table's prediction (NetAdapt's "measure, don't
/// model" applied to the last step only): each candidate is built as a real narrowed model and all of them run in
/// alternating rounds in this process, so drift of a shared machine touches them alike. The table finds the few
/// allocations worth timing; the clock decides between them.
/// </summary>
public static class MeasuredChoice
{
    /// <summary>Times every candidate's batch-1 forward pass and returns them fastest measured first.</summary>
    /// <param name="candidates">Allocations to compare (e.g. <see cref="LatencyAwareAllocator.Candidates"/>); at least one.</param>
    /// <param name="build">Builds the narrowed model of an allocation (weights do not matter for timing); the model is
    /// disposed after timing.</param>
    /// <param name="inputShape">Batch-1 input shape.</param>
    /// <param name="rounds">Timed rounds (each runs every candidate three times, in turn).</param>
    /// <param name="logger">Receives the predicted and measured times.</param>
    /// <exception cref="ArgumentException">No candidate, or a bad input shape.</exception>
    public static IReadOnlyList<MeasuredCandidate> Rank(IReadOnlyList<ChannelAllocation> candidates,
        Func<ChannelAllocation, nn.Module<Tensor, Tensor>> build, long[] inputShape, int rounds = 15, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape [{string.Join(",", inputShape)}] must have positive dimensions", nameof(inputShape));
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        return Rank(candidates, build, models => TimeForwards(models, inputShape, rounds), logger);
    }

    /// <summary>Builds every candidate, times the models with <paramref name="time"/> and returns the candidates fastest first.</summary>
    /// <param name="candidates">Allocations to compare; at least one. A single one is returned untimed (NaN ms).</param>
    /// <param name="build">Builds the narrowed model of an allocation; disposed afterwards.</param>
    /// <param name="time">Milliseconds per model, in the order given (e.g. on a target device).</param>
    /// <param name="logger">Receives the predicted and measured times.</param>
    /// <exception cref="ArgumentException">No candidate, or <paramref name="time"/> returned a wrong count.</exception>
    public static IReadOnlyList<MeasuredCandidate> Rank(IReadOnlyList<ChannelAllocation> candidates,
        Func<ChannelAllocation, nn.Module<Tensor, Tensor>> build, Func<IReadOnlyList<nn.Module<Tensor, Tensor>>, double[]> time,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(build);
        ArgumentNullException.ThrowIfNull(time);
        if (candidates.Count == 0) throw new ArgumentException("no candidate allocation to measure", nameof(candidates));
        logger ??= NullLogger.Instance;
        if (candidates.Count == 1) return [new MeasuredCandidate(candidates[0], double.NaN)];

        var models = new List<nn.Module<Tensor, Tensor>>();
        try
        {
            foreach (var candidate in candidates)
            {
                var model = build(candidate);
                model.eval();
                models.Add(model);
            }
            var ms = time(models);
            if (ms.Length != models.Count)
                throw new ArgumentException($"the timing gave {ms.Length} figures for {models.Count} models", nameof(time));
            var ranked = candidates.Select((c, i) => new MeasuredCandidate(c, ms[i])).OrderBy(c => c.MeasuredMs).ToList();
            logger.LogInformation("Measured {Count} candidate allocations (predicted → measured ms): {Times}; fastest measured: MACs {Macs:0.000}",
                candidates.Count,
                string.Join(", ", candidates.Select((c, i) => string.Create(CultureInfo.InvariantCulture, $"{c.PredictedMs:0.00} → {ms[i]:0.00}"))),
                ranked[0].Allocation.MacsRatio);
            return ranked;
        }
        finally
        {
            foreach (var model in models) model.Dispose();
        }
    }

    private static double[] TimeForwards(IReadOnlyList<nn.Module<Tensor, Tensor>> models, long[] inputShape, int rounds)
    {
        using var input = randn(inputShape);
        return AlternatingTimer.MedianMs(models.Select(m => (Action)(() =>
        {
            using var mode = inference_mode();
            using var pass = NewDisposeScope();
            m.call(input);
        })).ToList(), rounds, warmupRounds: 2, callsPerRound: 3);
    }
}
