using Microsoft.Extensions.Logging;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// NNI's sensitivity analysis scored by a task: the model is checked against the task's example input first, then each
/// layer is pruned alone at each sparsity and scored by the task on its fixed validation subset (<see cref="TrainingTask.ScoreLoader"/>).
/// </summary>
public static class TaskSensitivity
{
    /// <summary>Analyses <paramref name="model"/> (named <paramref name="modelName"/>, set up for <paramref name="inputShape"/>)
    /// for <paramref name="task"/>; the other parameters are <see cref="SensitivityAnalysis"/>'s.</summary>
    /// <param name="task">Scores each pruned model; its score's direction decides whether "dropped" or "raised" is worse.</param>
    /// <param name="model">The model; pruned temporarily and restored bit for bit.</param>
    /// <param name="modelName">The model's name for messages.</param>
    /// <param name="inputShape">The input shape the model is set up for.</param>
    /// <param name="validationSamples">Validation samples each score is taken on; 0 = all.</param>
    /// <param name="sparsities">Sparsities to test (default 0.1 … 0.9).</param>
    /// <param name="earlyStopMode">When to stop a layer's sweep early.</param>
    /// <param name="earlyStopValue">Threshold of the early-stop mode.</param>
    /// <param name="layers">Layers to analyse (default: every Conv2d).</param>
    /// <param name="logger">Receives one line per evaluation.</param>
    /// <param name="pruner">Prunes each layer (default L1 filters; <see cref="SensitivityPruners"/> names the others).</param>
    /// <exception cref="ArgumentException">The model does not take the task's input, or a setting is invalid.</exception>
    public static SensitivityResult Analyze(TrainingTask task, nn.Module<Tensor, Tensor> model, string modelName, long[] inputShape,
        int validationSamples = 0, IEnumerable<double>? sparsities = null, EarlyStopMode earlyStopMode = EarlyStopMode.None,
        double? earlyStopValue = null, IEnumerable<string>? layers = null, ILogger? logger = null, ILayerPruner? pruner = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ExampleInputCheck.Ensure(model, modelName, inputShape, task);
        var scoreLoader = task.ScoreLoader(validationSamples > 0 ? validationSamples : int.MaxValue, 500);
        using var lease = scoreLoader as IDisposable;
        return new SensitivityAnalysis(model, net => task.ScoreOf(net, scoreLoader), pruner, sparsities: sparsities, earlyStopMode: earlyStopMode,
            earlyStopValue: earlyStopValue, layers: layers, logger: logger).Analyze();
    }
}
