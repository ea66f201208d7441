using Microsoft.Extensions.Logging;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// The latency-aware allocation of one compress step: the latency table of the current model (as it is, or in the
/// inference form `trainer export` ships with Compression:LatencyForm = inference), the table's candidates under the
/// MACs target timed against each other (and refined by measured moves), or the most MACs within a latency budget.
/// </summary>
public sealed class LatencyAllocation(CompressionOptions options, ILogger logger)
{
    /// <summary>Chooses the widths of the step's model: keyed by the groups of <paramref name="graph"/>.</summary>
    /// <exception cref="ArgumentException">A target the floor cannot reach, or bad table options.</exception>
    public ChannelAllocation Choose(CompressionStepInput input, ModelGraph graph, double targetOfCurrent)
    {
        var o = options;
        var shape = input.Original.InputShape;
        // Several iterations share the floor: each may cut a layer to LayerFloor^(1/Iterations) of its width.
        var floor = Math.Pow(o.LayerFloor, 1.0 / o.Iterations);
        bool inferenceForm = o.LatencyForm.Equals("inference", StringComparison.OrdinalIgnoreCase);
        using var timedModel = Copy(input);
        var tableOptions = new LatencyTableOptions { Floor = floor, RoundTo = o.RoundTo };
        if (o.LatencyCacheDir.Length > 0) tableOptions = tableOptions with { CacheDir = o.LatencyCacheDir };
        var layout = MemoryLayout.Contiguous;
        if (inferenceForm)
        {
            // Fold first; the layout is then the one of a table cached on this machine (chosen by timing when it was measured,
            // so a second run makes the same choice), else timed now.
            InferenceForm.Apply(timedModel, shape, new InferenceFormOptions { Layout = MemoryLayout.Contiguous }, logger);
            var foldedGraph = ModelGraph.Build(timedModel, shape, logger);
            var cached = new[] { MemoryLayout.ChannelsLast, MemoryLayout.Contiguous }.Cast<MemoryLayout?>().FirstOrDefault(l =>
            {
                var key = LatencyTableKey.For(timedModel.GetType().Name, foldedGraph, tableOptions with { Layout = l!.Value });
                return LatencyTable.TryLoad(Path.Combine(tableOptions.CacheDir, key.FileName()), key) is not null;
            });
            layout = InferenceForm.Apply(timedModel, shape, new InferenceFormOptions { Layout = cached ?? MemoryLayout.Fastest }, logger).Layout;
        }
        var timedGraph = inferenceForm ? ModelGraph.Build(timedModel, shape, logger) : graph;
        tableOptions = tableOptions with { Layout = layout };
        var table = LatencyTable.LoadOrMeasure(timedModel, shape, timedGraph, tableOptions, logger);

        ChannelAllocation chosen;
        if (input.LatencyTargetOfOriginal is { } latencyTarget)
        {
            // The budget of this model: the earlier rounds' measured speedup has spent part of the original's.
            var ofCurrent = Math.Min(1.0, latencyTarget * (input.Manifest.Iterations.LastOrDefault()?.Speedup ?? 1.0));
            // A round's floor may not reach its share of the budget (a later round may): cut what the floor allows.
            var lowest = LatencyAwareAllocator.LowestLatencyRatio(timedModel, timedGraph, table, floor, o.RoundTo);
            if (ofCurrent < lowest)
            {
                logger.LogWarning("This round's latency budget ({Budget:0.000} of the current model) is below what a floor of {Floor:0.000} " +
                                  "allows ({Lowest:0.000} by the latency table, every layer at its floor): this round aims at that", ofCurrent, floor, lowest);
                ofCurrent = Math.Min(1.0, lowest * (1 + 1e-9));
            }
            chosen = LatencyAwareAllocator.CandidatesForLatency(timedModel, timedGraph, table, ofCurrent, floor, o.RoundTo, count: 1)[0];
        }
        else
        {
            var candidates = LatencyAwareAllocator.Candidates(timedModel, timedGraph, table, targetOfCurrent, floor, o.RoundTo, o.MeasuredCandidates);
            chosen = MeasuredChoice.Rank(candidates, Narrowed, shape, logger: logger)[0].Allocation;
            if (o.RefineSteps > 0)
                chosen = MeasuredChoice.Refine(chosen,
                    a => LatencyAwareAllocator.Neighbours(timedModel, timedGraph, table, a, targetOfCurrent, floor, o.RoundTo, count: 10),
                    Narrowed, MeasuredChoice.ForwardTimer(shape, rounds: 9), o.RefineSteps, logger: logger).Allocation;
        }
        // Folding removes BatchNorms, never a producer: the groups, named by their first producer, are the model's own.
        var unknown = chosen.KeptChannels.Keys.Except(graph.Groups.Select(g => g.Producers[0])).ToList();
        if (unknown.Count > 0)
            throw new InvalidOperationException($"the allocation names groups the model does not have: {string.Join(", ", unknown)}");
        logger.LogInformation("Channel allocation ({Form}): {Allocation}", inferenceForm ? $"timed in inference form, {layout}" : "timed as trained", chosen);
        return chosen;

        // The current model narrowed to an allocation's first channels, in the timed form: only its speed is measured.
        torch.nn.Module<torch.Tensor, torch.Tensor> Narrowed(ChannelAllocation allocation)
        {
            var copy = Copy(input);
            ChannelShrinker.Shrink(copy, graph, allocation.FirstChannelMasks(graph), new ShrinkOptions { RoundTo = o.RoundTo });
            if (inferenceForm) InferenceForm.Apply(copy, shape, new InferenceFormOptions { Layout = layout });
            return copy;
        }
    }

    private static torch.nn.Module<torch.Tensor, torch.Tensor> Copy(CompressionStepInput input) =>
        ModelCopy.Create(input.Original.Create, input.Original.InputShape, input.Manifest.AllEdits, input.Model);
}
