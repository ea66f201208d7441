using System.Globalization;
using Trainer.Abstractions.Compression;
using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>
/// The data-driven pruners' collection through the task's training (<see cref="CompressionRequest.Train"/>, NNI's
/// evaluator.train): slim trains with its regulariser, apoz and mean-activation hook the selected layers' outputs, taylor-fo
/// reads their gradients. The model's weights change as the task trains it, as in NNI.
/// </summary>
public static class DataCollectors
{
    /// <summary>Trains as <paramref name="kind"/> needs and returns the collected metric of each selected layer (caller owns
    /// them); null for slim, whose metric is read from the BatchNorm weights afterwards.</summary>
    /// <exception cref="InvalidOperationException">The host offers no training.</exception>
    public static Dictionary<string, Tensor>? Collect(CompressionRequest request, ImportanceCriterion kind, PrunerSettings settings,
        IReadOnlyList<LayerTarget> targets, string compressorName)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(settings);
        var train = request.Train ?? throw new InvalidOperationException(
            $"{compressorName} ranks channels by what the task's training shows, but this host offers no training " +
            "(CompressionRequest.Train, contract 1.2); run it through a host or session that gives one");
        var layers = targets.Select(t => t.Name).ToList();
        switch (kind)
        {
            case ImportanceCriterion.Slim:
            {
                var modules = request.Model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
                var scales = layers.Select(l => MaskPlanner.Weight(modules[l], l)).ToList();
                train(new TaskTraining { Epochs = settings.TrainingEpochs, LossHooks = [new SlimRegularizer(scales, settings.Scale)] });
                return null!;
            }
            case ImportanceCriterion.Apoz or ImportanceCriterion.MeanActivation:
            {
                var modules = request.Model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
                using var collector = new ActivationStatistics(layers.Select(l => (l, modules[l])), kind, settings.Activation, settings.TrainingSteps);
                train(new TaskTraining { MaxSteps = settings.TrainingSteps });
                return collector.Metrics();
            }
            case ImportanceCriterion.TaylorFo:
            {
                var modules = request.Model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
                using var collector = new TaylorCollector(layers.ToDictionary(l => l, l => MaskPlanner.Weight(modules[l], l), StringComparer.Ordinal),
                    settings.TrainingSteps);
                train(new TaskTraining { MaxSteps = settings.TrainingSteps, Callbacks = [collector] });
                return collector.Metrics();
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a data-driven pruner");
        }
    }

    /// <summary>Slim's BatchNorm masks carried to their producers and shrunk through the core (see
    /// <see cref="NniPrunerCompressor.Shrink"/>); a BatchNorm with no direct producer keeps its channels, with a note.</summary>
    public static List<LayerNote> ShrinkFromBatchNorm(CompressionRequest request, PruningMasks masks)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(masks);
        var producers = BatchNormProducers.Find(request.Model, request.ExampleInputShape);
        var notes = new List<LayerNote>();
        var carried = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var targets = new List<LayerTarget>();
        foreach (var target in masks.Targets)
        {
            if (!producers.TryGetValue(target.Name, out var producer))
            {
                notes.Add(new LayerNote(target.Name, "mask not applied: the BatchNorm reads no Conv2d/Linear output directly"));
                continue;
            }
            var mask = masks.Masks[target.Name];
            // Two BatchNorms after one layer: a channel stays when either keeps it.
            carried[producer] = carried.TryGetValue(producer, out var other) ? other.maximum(mask) : mask.clone();
            if (other is not null) other.Dispose();
            else targets.Add(target with { Name = producer, Type = "Conv2d" });
            notes.Add(new LayerNote(target.Name, string.Create(CultureInfo.InvariantCulture,
                $"|γ| keeps {mask.count_nonzero().item<long>()} of {mask.numel()} channels of '{producer}'")));
        }
        using var producerMasks = new PruningMasks(masks.Kind, masks.Mode, targets, carried);
        notes.AddRange(NniPrunerCompressor.Shrink(request.Editor, producerMasks));
        return notes;
    }
}
