using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tasks;

/// <summary>What a task is configured with at start-up.</summary>
/// <param name="DataPath">Where the task's data is (Data:Path); the task says what it expects there.</param>
/// <param name="Settings">The task's own keys (Task:Settings:*), to read and validate.</param>
/// <param name="Logger">Where the task logs.</param>
public sealed record TaskContext(string DataPath, IReadOnlyDictionary<string, string> Settings, ILogger Logger)
{
    /// <summary>A context with no data path, no settings and no logging.</summary>
    public static TaskContext Empty { get; } = new("", new Dictionary<string, string>(), NullLogger.Instance);
}

/// <summary>
/// A task: the user's data, training and score behind one object that every verb and session calls (NNI's Evaluator, with
/// Lightning's DataModule inside). Subclass it for your own task: loaders, the trainer subclass that trains your model,
/// and the score that judges it. Compression, quantization and analysis never own the training loop; they ask the task.
/// </summary>
public abstract class TrainingTask : IDisposable
{
    /// <summary>The task's name, for logs and reports.</summary>
    public abstract string Name { get; }

    /// <summary>The score the task judges a model by: best checkpoints, thresholds and reports use it.</summary>
    public abstract TaskScore Score { get; }

    /// <summary>Shape of one example input, batch dimension 1 included (e.g. [1, 1, 28, 28]).</summary>
    public abstract long[] ExampleInputShape { get; }

    /// <summary>Reads and validates the settings and finds the data; called once before anything else.</summary>
    /// <exception cref="ArgumentException">A setting the task does not know or cannot accept: the message names the key.</exception>
    public abstract void Configure(TaskContext context);

    /// <summary>The task's own model, for when the configuration names none; null when the task has no default. Called after
    /// <see cref="Configure"/>, so the model can fit the data (classes, features, image size).</summary>
    public virtual nn.Module<Tensor, Tensor>? CreateModel() => null;

    /// <summary>The name the task's own model is recorded under in manifests and reports (default: "&lt;task name&gt;-model");
    /// a manifest of that name is rebuilt with <see cref="CreateModel"/> of the same task, configured alike.</summary>
    public virtual string ModelName => $"{Name}-model";

    /// <summary>Training batches; the same seed gives the same batches for each epoch.</summary>
    public abstract IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio);

    /// <summary>Validation batches, in a fixed order.</summary>
    public abstract IBatchLoader ValidationLoader(int batchSize);

    /// <summary>Held-out test batches evaluated once after training, or null when the task has none.</summary>
    public virtual IBatchLoader? TestLoader(int batchSize) => null;

    /// <summary>A cheap fixed subset of the validation data for scores taken while compressing (accuracy-first modes,
    /// sensitivity): its first <paramref name="samples"/> samples.</summary>
    public virtual IBatchLoader ScoreLoader(int samples, int batchSize) => new FirstSamplesLoader(ValidationLoader(batchSize), samples);

    /// <summary>Batches for calibrating quantizers and sampling layer inputs: the first <paramref name="samples"/> training
    /// samples of seed <paramref name="seed"/>.</summary>
    public virtual IBatchLoader CalibrationLoader(int samples, int batchSize, long seed) =>
        new FirstSamplesLoader(TrainLoader(batchSize, seed, 1.0), samples);

    /// <summary>
    /// The trainer that trains <see cref="TrainerSetup.Network"/> for this task: your own <see cref="BaseTrainer"/> subclass.
    /// It must log the score as "val/&lt;Score.Name&gt;" among its validation metrics. Finetuning after a compress step calls
    /// this too, so it runs your losses, hooks and callbacks (plus the setup's loss hooks, such as distillation).
    /// </summary>
    public abstract BaseTrainer CreateTrainer(TrainerSetup setup);

    /// <summary>The score of <paramref name="model"/> over one pass of <paramref name="data"/>, in eval mode.</summary>
    protected abstract double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data);

    /// <summary>The score of <paramref name="model"/> over one pass of <paramref name="data"/>.</summary>
    /// <exception cref="InvalidOperationException">The task's score is not a finite number.</exception>
    public double ScoreOf(nn.Module<Tensor, Tensor> model, IBatchLoader data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var value = Evaluate(model, data);
        if (!double.IsFinite(value))
            throw new InvalidOperationException($"The task '{Name}' scored the model {Score.Name} = {value}, which is not a number to compare: " +
                                                $"check {GetType().Name}.Evaluate (an empty loader, a division by zero, a diverged model).");
        return value;
    }

    /// <summary>Releases the task's data.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the task's data; override to dispose tensors the task holds.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
