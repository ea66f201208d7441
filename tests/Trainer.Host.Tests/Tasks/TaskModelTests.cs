using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using Trainer.Host.Jobs;
using Trainer.Host.Options;
using static TorchSharp.torch;

namespace Trainer.Host.Tests.Tasks;

/// <summary>With Model:Name empty (the default) the model is the task's own, recorded under the task's model name.</summary>
public sealed class TaskModelTests
{
    private sealed class ModelessTask(bool hasModel) : TrainingTask
    {
        public override string Name => "vectors";
        public override TaskScore Score => new("mse", ScoreDirection.LowerIsBetter);
        public override long[] ExampleInputShape => [1, 6];
        public override void Configure(TaskContext context) { }
        public override nn.Module<Tensor, Tensor>? CreateModel() => hasModel ? nn.Linear(6, 2) : null;
        public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException();
        public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException();
        public override BaseTrainer CreateTrainer(TrainerSetup setup) => throw new NotSupportedException();
        protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => 0;
    }

    [Fact]
    public void The_tasks_own_model_is_built_with_the_tasks_input_shape_and_model_name()
    {
        using var task = new ModelessTask(hasModel: true);

        var model = ModelLoader.Load(new ModelOptions(), NullLogger.Instance, () => task);

        using var network = model.Network;
        Assert.Equal("vectors-model", model.Name);
        Assert.Equal(("vectors-model", "", ""), (model.Identity.Name, model.Identity.Type, model.Identity.Assembly));
        Assert.Equal([1L, 6], model.Identity.InputShape);
        Assert.Equal([1L, 6], model.InputShape);
        Assert.IsType<TorchSharp.Modules.Linear>(network);
    }

    [Fact]
    public void The_fashion_task_s_model_is_recorded_as_the_catalogs_fashion_cnn_so_older_manifests_still_load()
    {
        using var task = new FashionMnistTask();   // not configured: building its model needs no data

        var model = ModelLoader.Load(new ModelOptions(), NullLogger.Instance, () => task);

        using var network = model.Network;
        Assert.Equal(("fashion-cnn", ""), (model.Identity.Name, model.Identity.Type));
        Assert.IsType<FashionCnn>(network);
        Assert.Equal([1L, 1, 28, 28], model.InputShape);
    }

    [Fact]
    public void A_task_without_a_model_of_its_own_is_an_error_naming_the_keys_to_set()
    {
        using var task = new ModelessTask(hasModel: false);

        var e = Assert.Throws<JobException>(() => ModelLoader.Load(new ModelOptions(), NullLogger.Instance, () => task));

        Assert.Contains("the task 'vectors' has none; set Model:Name", e.Message);
        Assert.Contains("Model:Assembly and Model:Type", e.Message);
    }

    [Fact]
    public void A_manifest_of_another_tasks_model_names_the_model_and_the_configured_tasks_own()
    {
        using var task = new ModelessTask(hasModel: true);
        var identity = new ModelIdentity("fashion-denoising-model", "", "", [1, 1, 28, 28]);

        var e = Assert.Throws<InvalidDataException>(() => ModelLoader.Creator(identity, "m.json", () => task));

        Assert.Contains("'m.json' names the model 'fashion-denoising-model'", e.Message);
        Assert.Contains("not the task 'vectors''s own ('vectors-model')", e.Message);
        Assert.Contains("Task:Name", e.Message);
    }

    [Fact]
    public void A_manifest_of_the_tasks_model_is_rebuilt_by_the_task()
    {
        using var task = new ModelessTask(hasModel: true);

        var create = ModelLoader.Creator(new ModelIdentity("vectors-model", "", "", [1, 6]), "m.json", () => task);

        using var built = create();
        Assert.IsType<TorchSharp.Modules.Linear>(built);
    }
}
