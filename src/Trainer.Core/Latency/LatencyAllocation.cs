using Microsoft.Extensions.Logging;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using TorchSharp;

namespace Trainer.Core.Latency;

/// <summary>
/// The latency-aware allocation of one compress step: the latency table of the current model (as it is, in the
/// inference form `trainer export` ships with Compression:LatencyForm = inference, or exported and run in ONNX Runtime
/// with LatencyForm = onnx), the table's candidates under the MACs target timed against each other in that same form
/// (and refined by measured moves), or the most MACs within a latency budget.
/// </summary>
public sealed class LatencyAllocation(CompressionSessionOptions options, ILogger logger)
{
    /// <summary>Chooses the widths of the step's model (keyed by the groups of <paramref name="graph"/>) and says which
    /// timings decided them.</summary>
    /// <exception cref="ArgumentException">A target the floor cannot reach, or bad table options.</exception>
    public AllocationDecision Choose(CompressionStepInput input, ModelGraph graph, double targetOfCurrent)
    {
        var o = options;
        o.CheckLatencyForm();
        var shape = input.Original.InputShape;
        // Several iterations share the floor: each may cut a layer to LayerFloor^(1/Iterations) of its width.
        var floor = Math.Pow(o.LayerFloor, 1.0 / o.Iterations);
        bool inferenceForm = o.LatencyForm.Equals("inference", StringComparison.OrdinalIgnoreCase);
        bool onnxForm = o.LatencyForm.Equals("onnx", StringComparison.OrdinalIgnoreCase);
        using var timedModel = Copy(input);
        var tableOptions = new LatencyTableOptions
        {
            Floor = floor, RoundTo = o.RoundTo, Engine = onnxForm ? LatencyEngine.OnnxRuntime : LatencyEngine.TorchSharp,
        };
        if (o.LatencyCacheDir.Length > 0) tableOptions = tableOptions with { CacheDir = o.LatencyCacheDir };
        var layout = MemoryLayout.Contiguous;
        var timedBy = new List<string>();
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
            timedBy.Add($"the {Layout(layout)} layout the widths were timed in: the faster of the two, timed when this machine's table was measured");
        }
        if (onnxForm)
        {
            // The model as trained is exported: ONNX Runtime folds the BatchNorms and picks its own layout itself.
            if (o.RoundTo % OnnxChannelBlock != 0)
                logger.LogWarning("Compression:LatencyForm = onnx with RoundTo = {RoundTo}: ONNX Runtime runs its blocked (NCHWc) convolutions only on " +
                                  "channel counts in multiples of its block ({Block} on AVX-512 CPUs), other counts take a slower path; set RoundTo = {Block}",
                    o.RoundTo, OnnxChannelBlock, OnnxChannelBlock);
            timedBy.Add($"the engine the widths were timed in: ONNX Runtime {OnnxRuntimeRunner.Version}, {tableOptions.EffectiveOnnxThreads} threads " +
                        $"({OnnxRuntimeRunner.SettingsText})");
        }
        var timedGraph = inferenceForm ? ModelGraph.Build(timedModel, shape, logger) : graph;
        tableOptions = tableOptions with { Layout = layout };
        var table = LatencyTable.LoadOrMeasure(timedModel, shape, timedGraph, tableOptions, logger);
        // Stable words (no times, no dates): a resumed or repeated run on this machine records the same decision.
        timedBy.Add($"the widths: predicted by this machine's latency table ({table.Key.FileName()}; " +
                    "another machine, or a table measured again, may choose others)");

        ChannelAllocation chosen;
        if (input.LatencyTargetOfOriginal is { } latencyTarget)
        {
            // The budget of this model: the earlier rounds' measured speedup has spent part of the original's.
            var ofCurrent = Math.Min(1.0, latencyTarget * (input.Manifest.Iterations.LastOrDefault()?.Speedup ?? 1.0));
            // A round's floor may not reach its share of the budget (a later round may): cut what the floor allows.
            if (input.Manifest.Iterations.Count > 0)
                timedBy.Add("this round's share of the latency budget: the speedup measured after the previous round");
            var atFloor = LatencyAwareAllocator.AtFloor(timedModel, timedGraph, table, floor, o.RoundTo);
            var lowest = atFloor.PredictedMs!.Value / table.FullPredictedMs;
            if (ofCurrent < lowest)
            {
                // Taken as it is: searching for a budget the floor cannot reach finds nothing better than the floor.
                logger.LogWarning("This round's latency budget ({Budget:0.000} of the current model) is below what a floor of {Floor:0.000} " +
                                  "allows ({Lowest:0.000} by the latency table): every layer is cut to its floor", ofCurrent, floor, lowest);
                chosen = atFloor;
            }
            else chosen = LatencyAwareAllocator.CandidatesForLatency(timedModel, timedGraph, table, ofCurrent, floor, o.RoundTo, count: 1)[0];
        }
        else
        {
            var candidates = LatencyAwareAllocator.Candidates(timedModel, timedGraph, table, targetOfCurrent, floor, o.RoundTo, o.MeasuredCandidates);
            chosen = candidates[0];
            if (candidates.Count > 1)
            {
                chosen = MeasuredChoice.Rank(candidates, Narrowed, Timer(15), logger: logger)[0].Allocation;
                timedBy.Add($"the widths among the table's {candidates.Count} best: the fastest when timed now (MeasuredCandidates " +
                            $"= {o.MeasuredCandidates}; 1 takes the table's pick, the same on every run)");
            }
            if (o.RefineSteps > 0)
            {
                timedBy.Add($"up to {o.RefineSteps} measured moves after that (RefineSteps; 0 = none)");
                chosen = MeasuredChoice.Refine(chosen,
                    a => LatencyAwareAllocator.Neighbours(timedModel, timedGraph, table, a, targetOfCurrent, floor, o.RoundTo, count: 10),
                    Narrowed, Timer(9), o.RefineSteps, logger: logger).Allocation;
            }
        }
        // Folding removes BatchNorms, never a producer: the groups, named by their first producer, are the model's own.
        var unknown = chosen.KeptChannels.Keys.Except(graph.Groups.Select(g => g.Producers[0])).ToList();
        if (unknown.Count > 0)
            throw new InvalidOperationException($"the allocation names groups the model does not have: {string.Join(", ", unknown)}");
        logger.LogInformation("Channel allocation ({Form}): {Allocation}",
            onnxForm ? "timed in ONNX Runtime" : inferenceForm ? $"timed in inference form, {layout}" : "timed as trained", chosen);
        return new AllocationDecision(chosen, timedBy);

        // Candidates are timed in the table's engine: batch-1 forwards in alternating rounds.
        Func<IReadOnlyList<torch.nn.Module<torch.Tensor, torch.Tensor>>, double[]> Timer(int rounds) => onnxForm
            ? OnnxRuntimeRunner.ForwardTimer(shape, tableOptions.EffectiveOnnxThreads, rounds)
            : MeasuredChoice.ForwardTimer(shape, rounds);

        // The current model narrowed to an allocation's first channels, in the timed form: only its speed is measured.
        torch.nn.Module<torch.Tensor, torch.Tensor> Narrowed(ChannelAllocation allocation)
        {
            var copy = Copy(input);
            ChannelShrinker.Shrink(copy, graph, allocation.FirstChannelMasks(graph), new ShrinkOptions { RoundTo = o.RoundTo });
            if (inferenceForm) InferenceForm.Apply(copy, shape, new InferenceFormOptions { Layout = layout });
            return copy;
        }
    }

    /// <summary>ONNX Runtime's NCHWc channel block on AVX-512 CPUs (8 on AVX2): widths in its multiples keep the blocked convolutions.</summary>
    public const int OnnxChannelBlock = 16;

    private static string Layout(MemoryLayout layout) =>
        layout == MemoryLayout.ChannelsLast ? CompressionManifest.ChannelsLastLayout : CompressionManifest.ContiguousLayout;

    private static torch.nn.Module<torch.Tensor, torch.Tensor> Copy(CompressionStepInput input) =>
        ModelCopy.Create(input.Original.Create, input.Original.InputShape, input.Manifest.AllEdits, input.Model);
}
