using Trainer.Abstractions;
using Trainer.Core.Analysis;
using Trainer.Core.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>Measures what a pipeline reports for a model: MACs, parameters, validation accuracy and batch-1 latency.</summary>
public sealed class ModelMeasurer(long[] inputShape, IBatchLoader validation, int latencyRuns = 30)
{
    /// <summary>All four figures for <paramref name="model"/>.</summary>
    public ModelMetrics Of(torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        var flops = FlopsCounter.Count(model, inputShape);
        var parameters = model.parameters().Sum(p => p.numel());
        return new ModelMetrics(flops.TotalFlops, parameters, ClassificationAccuracy.Of(model, validation), BatchOneMs([model])[0]);
    }

    /// <summary>Batch-1 latency of <paramref name="original"/> over that of <paramref name="model"/>, both timed in
    /// alternating rounds so that drift of a shared machine touches both alike.</summary>
    public double Speedup(torch.nn.Module<torch.Tensor, torch.Tensor> original, torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        var ms = BatchOneMs([original, model]);
        return ms[0] / ms[1];
    }

    /// <summary>Median batch-1 milliseconds of each model, in alternating rounds of ten forward passes each (a small
    /// model's pass is well under a millisecond: ten per round weigh timer resolution and one-off stalls less).</summary>
    public double[] BatchOneMs(IReadOnlyList<torch.nn.Module<torch.Tensor, torch.Tensor>> models) =>
        AlternatingTimer.ForwardMs(models, [1, .. inputShape.Skip(1)], latencyRuns, callsPerRound: 10, warmupRounds: 3);

    /// <summary>Output channels (features) of every Conv2d and Linear, by module path.</summary>
    public static IReadOnlyDictionary<string, int> Channels(torch.nn.Module<torch.Tensor, torch.Tensor> model, long[] inputShape) =>
        FlopsCounter.Count(model, inputShape).Layers
            .Where(l => l.Type is "Conv2d" or "Linear")
            .ToDictionary(l => l.Name, l => (int)l.OutputShape[1]);
}
