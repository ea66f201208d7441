using Trainer.Abstractions;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Training;

/// <summary>Loss hooks add terms to any trainer's losses inside the loop.</summary>
public sealed class LossHookTests
{
    /// <summary>Adds weight * sum of squared parameters as "l2", into the total.</summary>
    private sealed class L2Hook(double weight) : ILossHook
    {
        public string Name => "l2";
        public int Calls { get; private set; }

        public IReadOnlyDictionary<string, Tensor> Apply(LossHookInput input)
        {
            Calls++;
            var l2 = input.Network.parameters().Select(p => p.pow(2).sum()).Aggregate((a, b) => a + b) * weight;
            return new Dictionary<string, Tensor>(input.Losses) { ["l2"] = l2, [LossNames.Total] = input.Losses[LossNames.Total] + l2 };
        }
    }

    private sealed class DroppingHook : ILossHook
    {
        public string Name => "dropper";
        public IReadOnlyDictionary<string, Tensor> Apply(LossHookInput input) => new Dictionary<string, Tensor> { ["other"] = input.Losses[LossNames.Total] };
    }

    private static TrainerSetup WithHooks(nn.Module<Tensor, Tensor> net, params ILossHook[] hooks)
    {
        var plain = Fixtures.Setup(net, epochs: 1);
        return new TrainerSetup
        {
            Network = net, TrainLoader = plain.TrainLoader, ValLoader = plain.ValLoader, Optimizer = plain.Optimizer,
            Settings = plain.Settings, LossHooks = hooks,
        };
    }

    [Fact]
    public void A_hook_runs_on_every_training_batch_and_its_term_is_logged_and_trained_on()
    {
        torch.manual_seed(3);
        var hook = new L2Hook(0.5);
        var result = new ClassificationTrainer(WithHooks(new SmallNet(), hook)).Run();

        Assert.Equal(4, hook.Calls);                                  // 4 batches, 1 epoch
        Assert.True(result.Metrics["train/epoch_l2"] > 0);
        Assert.True(result.Metrics["train/total_loss"] > result.Metrics["train/l2"]);   // the cross-entropy plus the term

        torch.manual_seed(3);
        var plainNet = new SmallNet();
        new ClassificationTrainer(Fixtures.Setup(plainNet, epochs: 1)).Run();
        torch.manual_seed(3);
        var hookedNet = new SmallNet();
        new ClassificationTrainer(WithHooks(hookedNet, new L2Hook(0.5))).Run();
        // Weight decay through the hook shrinks the weights against the same run without it.
        Assert.True(Norm(hookedNet) < Norm(plainNet), $"{Norm(hookedNet)} vs {Norm(plainNet)}");
    }

    private static double Norm(nn.Module<Tensor, Tensor> net) => net.parameters().Sum(p => p.pow(2).sum().item<float>());

    [Fact]
    public void A_hook_that_drops_the_total_is_named()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new ClassificationTrainer(WithHooks(new SmallNet(), new DroppingHook())).Run());
        Assert.Contains("the loss hook 'dropper'", e.Message);
        Assert.Contains(LossNames.Total, e.Message);
    }
}
