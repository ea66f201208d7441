using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using static TorchSharp.torch;
using static TorchSharp.torchvision;
using static Trainer.Core.Tests.Pruning.PruningFixtures;

namespace Trainer.Core.Tests.Pruning;

/// <summary>Replacing submodules by path in TorchVision and user models.</summary>
public sealed class ModuleReplacerTests
{
    [Fact]
    public void Resnet18_conv_replaced_by_an_equivalent_sequential_gives_the_same_output()
    {
        using var model = models.resnet18();
        torch.manual_seed(3);
        var input = torch.randn(1, 3, 64, 64);
        using var before = Eval(model, input);

        var old = (Conv2d)Modules(model)["layer1.0.conv1"];
        var conv = nn.Conv2d(64, 64, 3, padding: 1, bias: false);
        var identity = nn.Conv2d(64, 64, 1, bias: false);
        using (torch.no_grad())
        {
            conv.weight.copy_(old.weight);
            identity.weight.copy_(torch.eye(64).reshape(64, 64, 1, 1));
        }
        var replaced = ModuleReplacer.Replace(model, "layer1.0.conv1", nn.Sequential(conv, identity));

        Assert.Same(old, replaced);
        using var after = Eval(model, input);
        Assert.True(before.allclose(after, rtol: 1e-4, atol: 1e-5));
        Assert.Contains("layer1.0.conv1.1.weight", model.state_dict().Keys);
        Assert.DoesNotContain("layer1.0.conv1.weight", model.state_dict().Keys);
    }

    [Fact]
    public void A_sequential_child_is_replaced_in_place_keeping_order()
    {
        using var model = models.resnet18();
        ModuleReplacer.Replace(model, "layer2.1", nn.Identity());
        var layer2 = (Sequential)Modules(model)["layer2"];
        Assert.Equal(["0", "1"], layer2.named_children().Select(c => c.name));
        Assert.IsType<Identity>(layer2[1]);
        using var y = Eval(model, torch.zeros(1, 3, 64, 64));
        Assert.Equal([1L, 1000L], y.shape);

        using var seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2));
        ModuleReplacer.Replace(seq, "1", nn.Identity());
        Assert.IsType<Identity>(seq[1]);
        Assert.Equal(["0", "1", "2"], seq.named_children().Select(c => c.name));
    }

    [Fact]
    public void A_user_model_field_is_replaced()
    {
        using var model = new FashionCnn();
        ModuleReplacer.Replace(model, "fc2", nn.Linear(256, 3));
        using var y = Eval(model, torch.zeros(2, 1, 28, 28));
        Assert.Equal([2L, 3L], y.shape);
        Assert.Equal([3L, 256L], model.state_dict()["fc2.weight"].shape);
    }

    [Fact]
    public void Errors_name_the_path()
    {
        using var model = models.resnet18();
        var missing = Assert.Throws<ArgumentException>(() => ModuleReplacer.Replace(model, "layer1.9.conv1", nn.Identity()));
        Assert.Contains("'layer1.9.conv1'", missing.Message);
        Assert.Contains("children: 0, 1", missing.Message);

        using var typed = new TypedFieldModel();
        var wrongType = Assert.Throws<ArgumentException>(() => ModuleReplacer.Replace(typed, "conv1", nn.Identity()));
        Assert.Contains("'conv1'", wrongType.Message);
        Assert.Contains("Conv2d", wrongType.Message);
    }

    /// <summary>A user model whose field is typed Conv2d, so only a Conv2d can take the child's place.</summary>
    private sealed class TypedFieldModel : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d conv1 = nn.Conv2d(1, 1, 1);

        public TypedFieldModel() : base(nameof(TypedFieldModel)) => RegisterComponents();

        public override Tensor forward(Tensor input) => conv1.call(input);
    }
}
