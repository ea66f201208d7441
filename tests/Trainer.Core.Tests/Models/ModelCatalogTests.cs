using Trainer.Core.Checkpoints;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Models;

/// <summary>A user-style model class, loaded back from this test assembly by name.</summary>
public sealed class UserTinyNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Linear fc = nn.Linear(4, 2);
    public UserTinyNet() : base(nameof(UserTinyNet)) => RegisterComponents();
    public override Tensor forward(Tensor x) => fc.call(x);
}

public class ModelCatalogTests
{
    [Fact]
    public void Builds_the_example_and_TorchVision_models_with_their_input_shapes()
    {
        var fashion = ModelCatalog.Get("fashion-cnn");
        Assert.Equal([1, 1, 28, 28], fashion.DefaultInputShape);
        Assert.Equal(1_701_578, fashion.Create().parameters().Sum(p => p.numel()));
        Assert.Equal([1, 3, 299, 299], ModelCatalog.Get("inception_v3").DefaultInputShape);
        Assert.Equal(11_689_512, ModelCatalog.Get("ResNet18").Create().parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void An_unknown_name_lists_the_closest_names()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelCatalog.Get("resnet19"));
        Assert.Contains("Unknown model 'resnet19' (Model:Name). Closest: resnet18, resnet34, resnet50", error.Message);
    }

    [Fact]
    public void A_user_model_class_is_built_from_its_assembly()
    {
        var path = typeof(UserTinyNet).Assembly.Location;
        var model = ModelCatalog.CreateFromAssembly(path, typeof(UserTinyNet).FullName!);
        Assert.IsType<UserTinyNet>(model);
        var error = Assert.Throws<ArgumentException>(() => ModelCatalog.CreateFromAssembly(path, "No.Such.Type"));
        Assert.Contains(typeof(UserTinyNet).FullName!, error.Message);
    }

    [Fact]
    public void Weights_of_a_training_checkpoint_load_into_a_fresh_network()
    {
        var dir = Fixtures.TempDir();
        torch.manual_seed(1);
        var trained = new SmallNet();
        new ClassificationTrainer(Fixtures.Setup(trained, epochs: 1, checkpointDir: dir)).Run();
        var fresh = new SmallNet();
        Assert.NotEqual(Fixtures.Weights(trained), Fixtures.Weights(fresh));
        var state = CheckpointFile.LoadWeights(Path.Combine(dir, "last.ckpt"), fresh);
        Assert.Equal(Fixtures.Weights(trained), Fixtures.Weights(fresh));
        Assert.Equal(0, state.Epoch);
    }
}
