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

    /// <summary>
    /// Measured local search (NetAdapt's loop on the final allocation): times <paramref name="start"/> against the moves
    /// <paramref name="moves"/> proposes from it, takes the fastest when it beats the incumbent by more than
    /// <paramref name="minGain"/>, and repeats from there; stops when no move wins or after <paramref name="steps"/>.
    /// </summary>
    /// <param name="start">The allocation to improve (e.g. the winner of <see cref="Rank(IReadOnlyList{ChannelAllocation}, Func{ChannelAllocation, nn.Module{Tensor, Tensor}}, long[], int, ILogger?)"/>).</param>
    /// <param name="moves">Allocations near a given one (e.g. <see cref="LatencyAwareAllocator.Neighbours"/>).</param>
    /// <param name="build">Builds the narrowed model of an allocation; disposed after timing.</param>
    /// <param name="time">Milliseconds per model, in the order given; the incumbent is always first.</param>
    /// <param name="steps">Most accepted moves.</param>
    /// <param name="minGain">Fraction of the incumbent's time a move must save to be taken (timing noise is a few percent).</param>
    /// <param name="logger">Receives each accepted move.</param>
    /// <returns>The last incumbent and its measured time in the round that chose it (NaN when no round ran).</returns>
    public static MeasuredCandidate Refine(ChannelAllocation start, Func<ChannelAllocation, IReadOnlyList<ChannelAllocation>> moves,
        Func<ChannelAllocation, nn.Module<Tensor, Tensor>> build, Func<IReadOnlyList<nn.Module<Tensor, Tensor>>, double[]> time,
        int steps = 8, double minGain = 0.02, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(moves);
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        logger ??= NullLogger.Instance;
        var incumbent = new MeasuredCandidate(start, double.NaN);
        for (int step = 0; step < steps; step++)
        {
            var proposals = moves(incumbent.Allocation);
            if (proposals.Count == 0) break;
            var ranked = Rank([incumbent.Allocation, .. proposals], build, time);
            double incumbentMs = ranked.First(r => ReferenceEquals(r.Allocation, incumbent.Allocation)).MeasuredMs;
            var best = ranked[0];
            if (ReferenceEquals(best.Allocation, incumbent.Allocation) || best.MeasuredMs > incumbentMs * (1 - minGain))
            {
                incumbent = incumbent with { MeasuredMs = incumbentMs };
                break;
            }
            logger.LogInformation("Measured refinement, step {Step}: {From:0.00} → {To:0.00} ms over {Count} moves; MACs {Macs:0.000}",
                step + 1, incumbentMs, best.MeasuredMs, proposals.Count, best.Allocation.MacsRatio);
            incumbent = best;
        }
        return incumbent;
    }

    /// <summary>Alternating-round medians of batch-1 forward passes, for <see cref="Refine"/> and <see cref="Rank(IReadOnlyList{ChannelAllocation}, Func{ChannelAllocation, nn.Module{Tensor, Tensor}}, long[], int, ILogger?)"/>.</summary>
    public static Func<IReadOnlyList<nn.Module<Tensor, Tensor>>, double[]> ForwardTimer(long[] inputShape, int rounds = 15) =>
        models => TimeForwards(models, inputShape, rounds);

    private static double[] TimeForwards(IReadOnlyList<nn.Module<Tensor, Tensor>> models, long[] inputShape, int rounds) =>
        AlternatingTimer.ForwardMs(models, inputShape, rounds, callsPerRound: 3);
}
