using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Data.Tabular;
using Trainer.Core.Models;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tasks;

/// <summary>
/// The built-in task "tabular": a CSV of numeric feature columns and a target column (<see cref="TabularData"/> says where
/// the files are and how a single file is split), a <see cref="TabularMlp"/> sized to it, and either regression (score
/// "mse" in the target's units, lower is better, <see cref="RegressionTrainer"/>) or classification (accuracy,
/// <see cref="ClassificationTrainer"/>).
/// </summary>
/// <remarks>Settings (Task:Settings:*): <c>objective</c> (required: regression or classification), <c>target</c> (the target
/// column, default "target"), <c>features</c> (comma-separated columns, default every other column), <c>validation_fraction</c>
/// (default 0.2), <c>split_seed</c> (default 0), <c>hidden</c> (hidden layer widths, default "64,64").</remarks>
public sealed class TabularTask : TrainingTask
{
    /// <summary>The name configuration picks it by (Task:Name).</summary>
    public const string TaskName = "tabular";

    /// <summary>The regression score: mean squared error in the target's units, lower is better.</summary>
    public static TaskScore MeanSquaredError { get; } = new(RegressionTrainer.ScoreName, ScoreDirection.LowerIsBetter);

    private TabularData? _data;
    private TabularObjective _objective;
    private int[] _hidden = [64, 64];
    private float[] _featureMean = [], _featureStd = [];
    private float _targetMean, _targetStd = 1;

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <summary>"mse" (lower is better) for regression, accuracy for classification.</summary>
    public override TaskScore Score => _objective == TabularObjective.Classification ? TaskScore.Accuracy : MeanSquaredError;

    /// <inheritdoc />
    public override long[] ExampleInputShape => [1, Data.FeatureNames.Count];

    /// <summary>What the task predicts.</summary>
    public TabularObjective Objective => _objective;

    /// <summary>The loaded data.</summary>
    public TabularData Data => _data ?? throw new InvalidOperationException($"The task '{Name}' is not configured: call Configure first.");

    /// <inheritdoc />
    public override void Configure(TaskContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var settings = new TaskSettingsReader(context.Settings, Name);
        var objective = settings.Text("objective");
        if (string.IsNullOrEmpty(objective))
            throw new ArgumentException($"{TaskSettingsReader.Key("objective")} is required: regression (a number per row, scored by mean squared " +
                                        "error, lower is better) or classification (a class per row, scored by accuracy).");
        _objective = Enum.TryParse<TabularObjective>(objective, ignoreCase: true, out var parsed) && !int.TryParse(objective, out _)
            ? parsed : throw TaskSettingsReader.Invalid("objective", objective, "regression or classification");
        var target = settings.Text("target") is { Length: > 0 } t ? t : "target";
        var features = settings.Text("features") is { Length: > 0 } f ? f.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : null;
        var fraction = settings.Number("validation_fraction", 0.2, 0, 1, "share of a single CSV's rows held out for validation");
        var seed = settings.Integer("split_seed", 0, 0, int.MaxValue, "seed of that split's permutation");
        _hidden = Hidden(settings);
        settings.RejectUnknown();
        if (context.DataPath.Length == 0)
            throw new ArgumentException($"The task '{Name}' needs Data:Path: a CSV file, or a folder with train.csv (and val.csv, test.csv).");

        _data?.Dispose();
        _data = null;
        var data = TabularData.Load(context.DataPath, new TabularLayout(target, features, _objective, fraction, seed));
        Measure(data);
        _data = data;
        context.Logger.LogInformation("Task '{Task}' ({Objective}): {Train} training, {Validation} validation{Test} rows of {Features} features{Classes}.",
            Name, _objective.ToString().ToLowerInvariant(), data.Train.Count, data.Validation.Count, data.Test is { } test ? $", {test.Count} test" : "",
            data.FeatureNames.Count, data.ClassNames.Count > 0 ? $", {data.ClassNames.Count} classes" : "");
    }

    private static int[] Hidden(TaskSettingsReader settings)
    {
        var text = settings.Text("hidden");
        if (string.IsNullOrEmpty(text)) return [64, 64];
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var widths = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out widths[i]) || widths[i] < 1 || widths[i] > 65536)
                throw TaskSettingsReader.Invalid("hidden", text, "comma-separated hidden layer widths, each 1 to 65536 (default 64,64)");
        return widths;
    }

    /// <summary>Per-feature mean and deviation of the training rows (a constant feature gets deviation 1), and the target's.</summary>
    private void Measure(TabularData data)
    {
        using var scope = NewDisposeScope();
        var x = data.Train.Features.to(ScalarType.Float64);
        _featureMean = x.mean([0]).to(ScalarType.Float32).data<float>().ToArray();
        _featureStd = [.. x.std(0, unbiased: false).to(ScalarType.Float32).data<float>().ToArray().Select(s => s > 1e-12f ? s : 1f)];
        if (_objective == TabularObjective.Classification) { (_targetMean, _targetStd) = (0, 1); return; }
        var y = data.Train.Targets.to(ScalarType.Float64);
        _targetMean = (float)y.mean().item<double>();
        var std = (float)y.std(unbiased: false).item<double>();
        _targetStd = std > 1e-12f ? std : 1f;
    }

    /// <summary>A <see cref="TabularMlp"/> for the data's features and target (Task:Settings:hidden wide).</summary>
    public override nn.Module<Tensor, Tensor> CreateModel() => new TabularMlp(_hidden,
        _objective == TabularObjective.Classification ? Data.ClassNames.Count : 1, _featureMean, _featureStd, _targetMean, _targetStd);

    /// <inheritdoc />
    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) =>
        new TensorBatchLoader(Data.Train.Features, Data.Train.Targets, batchSize, shuffle: true, seed, subsetRatio: subsetRatio);

    /// <inheritdoc />
    public override IBatchLoader ValidationLoader(int batchSize) =>
        new TensorBatchLoader(Data.Validation.Features, Data.Validation.Targets, batchSize, shuffle: false);

    /// <summary>test.csv's rows when the data has one.</summary>
    public override IBatchLoader? TestLoader(int batchSize) => Data.Test is { } test
        ? new TensorBatchLoader(test.Features, test.Targets, batchSize, shuffle: false)
        : null;

    /// <inheritdoc />
    public override BaseTrainer CreateTrainer(TrainerSetup setup) => _objective == TabularObjective.Classification
        ? new ClassificationTrainer(setup)
        : new RegressionTrainer(setup, _targetStd);

    /// <summary>Accuracy, or the mean squared error over every row of the pass in the target's units.</summary>
    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data)
    {
        if (_objective == TabularObjective.Classification) return ClassificationAccuracy.Of(model, data);
        double squared = 0;
        long rows = 0;
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        using (new EvalModeScope(model))
        using (inference_mode())
            foreach (var batch in data.GetBatches(0))
            {
                using var scope = NewDisposeScope();
                var error = model.call(batch.Inputs.to(device)).flatten().to(ScalarType.Float64) - batch.Targets.to(device).to(ScalarType.Float64);
                squared += error.square().sum().item<double>();
                rows += batch.Size;
            }
        return rows > 0 ? squared / rows : double.NaN;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _data?.Dispose();
        _data = null;
    }
}
