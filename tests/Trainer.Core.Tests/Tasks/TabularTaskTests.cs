using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data.Tabular;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.Data.Tabular;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Tasks;

/// <summary>The built-in "tabular" task: regression scored by MSE in the target's units, classification by accuracy, and each
/// bad CSV or setting one error naming the row, column or key.</summary>
public sealed class TabularTaskTests : IDisposable
{
    private readonly CsvFiles _files = new();
    private readonly string _runs = Path.Combine(Path.GetTempPath(), "trainer-tabular-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        _files.Dispose();
        if (Directory.Exists(_runs)) Directory.Delete(_runs, recursive: true);
    }

    private static TabularTask Configured(string path, params (string Key, string Value)[] settings)
    {
        var task = new TabularTask();
        task.Configure(TaskContext.Empty with { DataPath = path, Settings = settings.ToDictionary(s => s.Key, s => s.Value) });
        return task;
    }

    private double Train(TrainingTask task, nn.Module<Tensor, Tensor> model, int epochs, double learningRate)
    {
        manual_seed(0);
        var result = new TrainerRecipe().Create(task, new TrainingRunSpec(model, task.TrainLoader(32, 0, 1), task.ValidationLoader(64),
            Path.Combine(_runs, "log"), Path.Combine(_runs, "ckpt"), epochs, learningRate), NullLoggerFactory.Instance).Run();
        return result.Metrics[$"val/{task.Score.Name}"];
    }

    [Fact]
    public void Regression_learns_a_linear_target_and_scores_mse_in_the_targets_units_lower_is_better()
    {
        var path = _files.Write("linear.csv", CsvFiles.Linear(240));
        using var task = Configured(path, ("objective", "regression"));

        Assert.Equal(new TaskScore("mse", ScoreDirection.LowerIsBetter), task.Score);
        Assert.Equal([1, 2], task.ExampleInputShape);
        Assert.Equal((192L, 48L), (task.Data.Train.Count, task.Data.Validation.Count));
        using var model = task.CreateModel();
        var mlp = Assert.IsType<TabularMlp>(model);
        Assert.Equal((2, 1), (mlp.Features, mlp.Outputs));
        // An untrained model predicts about the training mean: its error is about the target's variance (std ≈ 9.4).
        var variance = task.Data.Validation.Targets.var(unbiased: false).item<float>();
        var before = task.ScoreOf(model, task.ValidationLoader(32));
        Assert.InRange(before, 0.5 * variance, 3 * variance);

        var logged = Train(task, model, epochs: 15, learningRate: 0.1);
        var after = task.ScoreOf(model, task.ValidationLoader(32));

        Assert.True(after < 0.02 * variance, $"val mse {after} of variance {variance}");
        Assert.Equal(after, logged, 3);
        // The model reads raw rows and predicts in the target's units: (x1, x2) = (1, 2) → 3 − 4 + 50 = 49.
        using var scope = NewDisposeScope();
        model.eval();
        Assert.Equal(49, model.call(tensor(new[] { 1f, 2f }, [1, 2])).item<float>(), 0.5);
    }

    [Fact]
    public void Classification_names_classes_by_the_targets_sorted_values_and_scores_accuracy()
    {
        Directory.CreateDirectory(Path.Combine(_files.Directory, "q"));
        _files.Write("q/train.csv", CsvFiles.Quadrants(400));
        _files.Write("q/val.csv", CsvFiles.Quadrants(100, seed: 7));
        _files.Write("q/test.csv", CsvFiles.Quadrants(50, seed: 8));
        using var task = Configured(Path.Combine(_files.Directory, "q"), ("objective", "classification"), ("target", "kind"), ("hidden", "32"));

        Assert.Equal(TaskScore.Accuracy, task.Score);
        Assert.Equal(["left-high", "left-low", "right-high", "right-low"], task.Data.ClassNames);
        Assert.Equal((400L, 100L, 50L), (task.Data.Train.Count, task.Data.Validation.Count, task.Data.Test!.Count));
        Assert.Equal(ScalarType.Int64, task.Data.Train.Targets.dtype);
        Assert.NotNull(task.TestLoader(10));
        using var model = task.CreateModel();
        Assert.Equal(4, Assert.IsType<TabularMlp>(model).Outputs);
        Assert.IsType<ClassificationTrainer>(task.CreateTrainer(new TrainerSetup
        {
            Network = model, TrainLoader = task.TrainLoader(8, 0, 1), Optimizer = optim.SGD(model.parameters(), 0.01),
        }));

        var accuracy = Train(task, model, epochs: 8, learningRate: 0.1);
        Assert.True(accuracy > 0.9, $"val accuracy {accuracy}");
    }

    [Fact]
    public void A_single_file_splits_by_a_seeded_permutation_into_disjoint_training_and_validation_rows()
    {
        var path = _files.Write("linear.csv", CsvFiles.Linear(8));
        using var a = Configured(path, ("objective", "regression"), ("validation_fraction", "0.25"), ("split_seed", "3"));
        using var b = Configured(path, ("objective", "regression"), ("validation_fraction", "0.25"), ("split_seed", "3"));
        using var c = Configured(path, ("objective", "regression"), ("validation_fraction", "0.25"), ("split_seed", "4"));

        float[] Targets(TabularSplit split) => split.Targets.data<float>().ToArray();
        Assert.Equal(2, a.Data.Validation.Count);
        Assert.Equal(Targets(a.Data.Validation), Targets(b.Data.Validation));
        Assert.NotEqual(Targets(a.Data.Validation), Targets(c.Data.Validation));
        var all = CsvTable.Read(path);
        Assert.Equal(Enumerable.Range(0, 8).Select(r => (float)all.Number(r, 2)).Order(),
            Targets(a.Data.Train).Concat(Targets(a.Data.Validation)).Order());
    }

    [Theory]
    [InlineData("x1,x2,target\n1,2,3\n4,oops,6\n", "row 2 (line 3), column 2 ('x2'): 'oops' is not a number")]
    [InlineData("x1,x2,target\n1,2,3\n4,5,\n", "row 2 (line 3), column 3 ('target'): the cell is empty")]
    public void A_cell_that_is_not_a_number_is_one_error_naming_row_and_column(string text, string message)
    {
        var path = _files.Write("bad.csv", text);
        var e = Assert.Throws<InvalidDataException>(() => Configured(path, ("objective", "regression"), ("validation_fraction", "0.5")));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData(new[] { "objective", "regression", "target", "price" }, "has no target column 'price' (Task:Settings:target); its columns: x1, x2, target")]
    [InlineData(new[] { "objective", "regression", "features", "x1,x3" }, "has no column 'x3' (Task:Settings:features); its columns: x1, x2, target")]
    [InlineData(new[] { "target", "x1" }, "Task:Settings:objective is required: regression")]
    [InlineData(new[] { "objective", "ranking" }, "Task:Settings:objective = 'ranking' is invalid; accepted: regression or classification")]
    [InlineData(new[] { "objective", "regression", "hidden", "64,0" }, "Task:Settings:hidden = '64,0' is invalid")]
    [InlineData(new[] { "objective", "regression", "validation_fraction", "0.01" }, "leaves 0 validation and 12 training rows")]
    [InlineData(new[] { "objective", "regression", "layers", "3" }, "Task:Settings:layers is not a setting of the task 'tabular'; its settings: features, hidden, objective")]
    public void A_missing_column_or_bad_setting_is_named(string[] pairs, string message)
    {
        var path = _files.Write("linear.csv", CsvFiles.Linear(12));
        var settings = pairs.Chunk(2).Select(p => (p[0], p[1])).ToArray();
        var e = Assert.Throws<ArgumentException>(() => Configured(path, settings));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_validation_class_unseen_in_training_is_named()
    {
        Directory.CreateDirectory(Path.Combine(_files.Directory, "c"));
        _files.Write("c/train.csv", "a,label\n1,cat\n2,dog\n");
        _files.Write("c/val.csv", "a,label\n1,cat\n2,bird\n");
        var e = Assert.Throws<InvalidDataException>(() => Configured(Path.Combine(_files.Directory, "c"), ("objective", "classification"), ("target", "label")));
        Assert.Contains("val.csv' row 2 (line 3), column 2 ('label'): class 'bird' is not among the training classes (cat, dog)", e.Message);
    }
}
