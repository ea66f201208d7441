using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tasks;

/// <summary>
/// The built-in task "fashion-mnist": Fashion-MNIST's IDX files from Data:Path (Debian's dataset-fashion-mnist by default),
/// the test set as validation data, the Fashion CNN as default model, cross-entropy training and top-1 accuracy as score.
/// It has no settings of its own.
/// </summary>
public sealed class FashionMnistTask : TrainingTask
{
    /// <summary>The name configuration picks it by (Task:Name).</summary>
    public const string TaskName = "fashion-mnist";

    private FashionMnistData? _data;
    private TaskContext? _context;

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <inheritdoc />
    public override TaskScore Score => TaskScore.Accuracy;

    /// <inheritdoc />
    public override long[] ExampleInputShape => [1, 1, FashionMnist.ImageSize, FashionMnist.ImageSize];

    // Read on first use, so that verbs that need only the model (analyze, export) run without the data.
    private FashionMnistData Data => _data ??= _context is { } c
        ? FashionMnist.Load(c.DataPath.Length > 0 ? c.DataPath : FashionMnist.DefaultDirectory, c.Logger)
        : throw new InvalidOperationException($"The task '{Name}' is not configured: call Configure first.");

    /// <inheritdoc />
    public override void Configure(TaskContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Settings.Count > 0)
            throw new ArgumentException($"The task '{Name}' has no settings, but Task:Settings names {string.Join(", ", context.Settings.Keys.Select(k => $"Task:Settings:{k}"))}; remove them.");
        _data?.Dispose();
        _data = null;
        _context = context;
    }

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> CreateModel() => new FashionCnn();

    /// <inheritdoc />
    /// <remarks>The catalog's name of the same model, so its manifests load with or without the task.</remarks>
    public override string ModelName => "fashion-cnn";

    /// <inheritdoc />
    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => Data.TrainLoader(batchSize, seed, subsetRatio);

    /// <inheritdoc />
    public override IBatchLoader ValidationLoader(int batchSize) => Data.TestLoader(batchSize);

    /// <inheritdoc />
    public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ClassificationTrainer(setup);

    /// <inheritdoc />
    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => ClassificationAccuracy.Of(model, data);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _data?.Dispose();
        _data = null;
    }
}
