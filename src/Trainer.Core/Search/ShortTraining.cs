using Trainer.Abstractions;
using Trainer.Core.Optimization;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>How a search trains a model briefly through the task: NetAdapt's short-term finetuning, ADMM's W-steps.</summary>
public sealed record ShortTrainingOptions
{
    /// <summary>Optimizer steps (batches) of one run; 0 trains <see cref="Epochs"/> whole epochs instead.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Epochs when <see cref="Steps"/> is 0 (with steps: at most as many epochs as the steps need).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Learning rate of plain SGD (NNI's example short-term finetuner: SGD at 0.01, no momentum).</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>Momentum of the SGD optimizer (0 as NNI's example).</summary>
    public double Momentum { get; init; }

    /// <summary>Seed set before each run, so the same model trained on the same loader ends with the same weights.</summary>
    public int Seed { get; init; }

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range, named.</exception>
    public void Validate()
    {
        if (Steps < 0) throw new ArgumentException($"short training steps {Steps}: need 0 (whole epochs) or more");
        if (Epochs < 1) throw new ArgumentException($"short training epochs {Epochs}: need 1 or more");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentException($"short training learning rate {LearningRate}: need a positive number");
        if (Momentum is < 0 or >= 1) throw new ArgumentException($"short training momentum {Momentum}: need [0, 1)");
    }
}

/// <summary>Trains a model for a few steps with the task's own trainer (its losses, plus loss hooks), no validation and no
/// checkpoints: the loop NNI's evaluator.train gives its pruners.</summary>
public static class ShortTraining
{
    /// <summary>Trains <paramref name="model"/> in place on <paramref name="train"/> as <paramref name="options"/> say.</summary>
    /// <returns>The optimizer steps taken.</returns>
    public static long Run(TrainingTask task, nn.Module<Tensor, Tensor> model, IBatchLoader train, ShortTrainingOptions options,
        IReadOnlyList<ILossHook>? lossHooks = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (train.BatchCount == 0) throw new ArgumentException("the training loader has no batch; short training needs data", nameof(train));
        int epochs = options.Steps > 0 ? (options.Steps + train.BatchCount - 1) / train.BatchCount : options.Epochs;
        manual_seed(options.Seed);
        var optimizer = OptimizerFactory.Create(new OptimizerOptions { LearningRate = options.LearningRate, Momentum = options.Momentum },
            model.parameters());
        var trainer = task.CreateTrainer(new TrainerSetup
        {
            Network = model,
            TrainLoader = train,
            Optimizer = optimizer,
            // No validation loader: the loop monitors the epoch's training loss (it keeps no checkpoint either).
            Settings = new TrainerSettings { Epochs = epochs, MaxSteps = options.Steps, ReuseNativeMemory = false, MonitorMetric = "train/epoch_" + LossNames.Total },
            LossHooks = lossHooks ?? [],
        });
        var result = trainer.Run();
        model.eval();
        return result.GlobalStep;
    }
}
