using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using Trainer.Core.Models;
using TorchSharp;

namespace Trainer.Core.Compression;

/// <summary>One compress step's inputs.</summary>
/// <param name="Compressor">The compressor to run.</param>
/// <param name="Model">The model as it is now (compressed by the earlier iterations).</param>
/// <param name="Original">The uncompressed model and how to build its architecture.</param>
/// <param name="Manifest">The manifest so far (its edits rebuild <paramref name="Model"/>'s structure).</param>
/// <param name="TargetOfOriginal">MACs this step aims at, as a fraction of the original model's.</param>
/// <param name="TrainingData">Batches compressors sample from.</param>
/// <param name="EvaluateScore">The task's score on a cheap validation subset, for accuracy-first compressors.</param>
/// <param name="Score">What <paramref name="EvaluateScore"/> returns: name and direction.</param>
/// <param name="LatencyTargetOfOriginal">A latency budget as a fraction of the original's latency; when set it replaces
/// <paramref name="TargetOfOriginal"/> (the latency allocation sizes the layers, its MACs become the compressor's target).</param>
/// <param name="Replay">An allocation decided by an interrupted attempt at this step, taken instead of deciding again.</param>
/// <param name="Decided">Called with the allocation decision before the compressor runs (to record it).</param>
/// <param name="Train">The task's training of the model, for data-driven compressors (<see cref="CompressionRequest.Train"/>).</param>
public sealed record CompressionStepInput(ICompressor Compressor, torch.nn.Module<torch.Tensor, torch.Tensor> Model, LoadedModel Original,
    CompressionManifest Manifest, double TargetOfOriginal, IBatchLoader TrainingData,
    Func<torch.nn.Module<torch.Tensor, torch.Tensor>, double> EvaluateScore, Trainer.Abstractions.Tasks.TaskScore Score,
    double? LatencyTargetOfOriginal = null,
    AllocationDecision? Replay = null, Action<AllocationDecision>? Decided = null, Action<TaskTraining>? Train = null);

/// <summary>
/// Runs one compress step: a reference copy of the model for the compressor's sampling, the core's editor (which records
/// every structural edit), the per-group keep ratios of the configured allocation, then the compressor itself.
/// </summary>
public sealed class CompressionStepRunner(CompressionSessionOptions options, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Compress");

    /// <summary>Runs the step; returns the compressed model, the compressor's report, the edits made and the allocation decision.</summary>
    public (torch.nn.Module<torch.Tensor, torch.Tensor> Model, CompressionResult Result, IReadOnlyList<ModelEdit> Edits, AllocationDecision Decision)
        Run(CompressionStepInput input)
    {
        var o = options;
        var shape = input.Original.InputShape;
        using var reference = ModelCopy.Create(input.Original.Create, shape, input.Manifest.AllEdits, input.Model);
        var editor = new ModelEditor(input.Model, shape, new ShrinkOptions { RoundTo = o.RoundTo }, reference, input.TrainingData,
            loggers.CreateLogger("Trainer.Editor"));
        var currentMacs = editor.Cost.Macs;
        var targetOfCurrent = Math.Min(1.0, input.TargetOfOriginal * input.Manifest.Original.Macs / currentMacs);
        var decision = input.Replay is { } replay ? Replayed(replay, editor) : Allocate(input, editor, targetOfCurrent);
        input.Decided?.Invoke(decision);
        var allocation = decision.Allocation;
        if (input.LatencyTargetOfOriginal is not null && allocation is not null) targetOfCurrent = allocation.MacsRatio;
        var request = new CompressionRequest
        {
            Model = input.Model,
            ExampleInputShape = shape,
            TrainingData = input.TrainingData,
            TargetFlopsRatio = targetOfCurrent,
            Settings = o.Settings,
            Editor = editor,
            GroupKeepRatios = allocation?.GroupKeepRatios,
            EvaluateScore = input.EvaluateScore,
            Score = input.Score,
            Train = input.Train,
            Logger = loggers.CreateLogger($"Trainer.Compress.{input.Compressor.Name}"),
        };
        try
        {
            var result = input.Compressor.Compress(request);
            return (result.Model, result, editor.Edits, decision);
        }
        catch (ArgumentException e)
        {
            throw new CompressionSettingsException("Settings", $"compressor '{input.Compressor.Name}': {e.Message}", e);
        }
    }

    /// <summary>A recorded decision, checked against the model it is replayed on (its groups and their widths).</summary>
    private AllocationDecision Replayed(AllocationDecision replay, ModelEditor editor)
    {
        if (replay.Allocation is { } a)
        {
            var groups = editor.Graph.Groups.ToDictionary(g => g.Producers[0], g => (int)g.Channels);
            var wrong = a.GroupChannels.Where(g => !groups.TryGetValue(g.Key, out var c) || c != g.Value).Select(g => g.Key).ToList();
            if (wrong.Count > 0)
                throw new InvalidDataException($"The recorded allocation of this iteration names groups the model does not have ({string.Join(", ", wrong)}): " +
                                       "its journal belongs to another model; delete the iteration's journal file to decide again.");
            _logger.LogInformation("Channel allocation replayed from the interrupted attempt: {Allocation}", a);
        }
        return replay;
    }

    private AllocationDecision Allocate(CompressionStepInput input, ModelEditor editor, double targetOfCurrent)
    {
        var o = options;
        if (o.Allocation.Equals("compressor", StringComparison.OrdinalIgnoreCase)) return AllocationDecision.None;
        if (!input.Compressor.UsesGroupKeepRatios)
        {
            if (input.LatencyTargetOfOriginal is not null)
                throw new CompressionSettingsException("TargetLatencyRatio",
                    $"compressor '{input.Compressor.Name}' sizes its layers itself, so it cannot be held to a latency budget; use a MACs target");
            _logger.LogInformation("Compressor '{Compressor}' sizes its layers itself: no {Allocation} allocation is prepared for it.",
                input.Compressor.Name, o.Allocation);
            return AllocationDecision.None;
        }
        var keys = input.LatencyTargetOfOriginal is null
            ? $"Allocation = {o.Allocation}, TargetFlopsRatio, LayerFloor"
            : "TargetLatencyRatio, LayerFloor";
        if (o.Allocation.Equals("searched", StringComparison.OrdinalIgnoreCase)) keys = "Policy";
        try
        {
            return Allocation.ChannelAllocators.For(o, _logger)!.Allocate(input, editor.Graph, targetOfCurrent);
        }
        catch (ArgumentException e)
        {
            throw new CompressionSettingsException(keys, e.Message, e);
        }
    }
}
