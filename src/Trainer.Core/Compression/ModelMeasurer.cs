using Trainer.Abstractions;
using Trainer.Core.Analysis;
using Trainer.Core.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Compression;

/// <summary>Measures what a pipeline reports for a model: MACs, parameters, the task's validation score and batch-1 latency.</summary>
public sealed class ModelMeasurer(long[] inputShape, Func<torch.nn.Module<torch.Tensor, torch.Tensor>, double> score, int latencyRuns = 30)
{
    /// <summary>All four figures for <paramref name="model"/>; the latency is timed unless <paramref name="latencyMs"/> is
    /// given (a finetuned model runs as fast as before finetuning: its structure is the same).</summary>
    public ModelMetrics Of(torch.nn.Module<torch.Tensor, torch.Tensor> model, double? latencyMs = null) =>
        Size(model, inputShape, score(model), latencyMs ?? BatchOneMs([model])[0]);

    /// <summary>The figures of <paramref name="model"/>, its latency timed in alternating rounds with
    /// <paramref name="original"/>'s, and the speedup over it from those same rounds (drift of a shared machine touches
    /// both alike).</summary>
    public (ModelMetrics Metrics, double Speedup) OfAgainst(torch.nn.Module<torch.Tensor, torch.Tensor> original,
        torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        var ms = BatchOneMs([original, model]);
        return (Of(model, ms[1]), ms[0] / ms[1]);
    }

    /// <summary>MACs and parameters of <paramref name="model"/>, with the given score and latency.</summary>
    public static ModelMetrics Size(torch.nn.Module<torch.Tensor, torch.Tensor> model, long[] inputShape, double score, double latencyMs) =>
        new(FlopsCounter.Count(model, inputShape).TotalFlops, model.parameters().Sum(p => p.numel()), score, latencyMs);

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
