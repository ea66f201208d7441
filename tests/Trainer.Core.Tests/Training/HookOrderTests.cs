using Trainer.Abstractions;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Tests.Training;

public class HookOrderTests
{
    private sealed class RecordingCallback : TrainerCallback
    {
        public List<string> Calls { get; } = [];
        public override void OnTrainStart(ITrainingContext c) => Calls.Add("train_start");
        public override void OnEpochStart(ITrainingContext c) => Calls.Add($"epoch_start:{c.Epoch}");
        public override void OnBeforeBackward(ITrainingContext c, torch.Tensor loss) => Calls.Add("before_backward");
        public override void OnBeforeOptimizerStep(ITrainingContext c) => Calls.Add("before_optimizer_step");
        public override void OnTrainBatchEnd(ITrainingContext c, BatchOutcome o) => Calls.Add($"batch_end:{o.BatchIndex}@{c.GlobalStep}");
        public override void OnValidationEnd(ITrainingContext c, IReadOnlyDictionary<string, double> m) => Calls.Add("validation_end");
        public override void OnEpochEnd(ITrainingContext c) => Calls.Add($"epoch_end:{c.Epoch}");
        public override void OnTrainEnd(ITrainingContext c) => Calls.Add("train_end");
        public override void OnException(ITrainingContext c, Exception e) => Calls.Add("exception");
    }

    private sealed class FailingTrainer(TrainerSetup setup) : ClassificationTrainer(setup)
    {
        protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor p, Batch b) =>
            Context.GlobalStep == 1 ? throw new InvalidOperationException("boom") : base.GetTrainLosses(p, b);
    }

    [Fact]
    public void Hooks_are_called_in_the_documented_order()
    {
        var recorder = new RecordingCallback();
        new ClassificationTrainer(Fixtures.Setup(new SmallNet(), epochs: 2, callbacks: [recorder], batches: 2)).Run();

        string[] epoch(int e, int step) =>
        [
            $"epoch_start:{e}",
            "before_backward", "before_optimizer_step", $"batch_end:0@{step + 1}",
            "before_backward", "before_optimizer_step", $"batch_end:1@{step + 2}",
            "validation_end", $"epoch_end:{e}",
        ];
        string[] expected = ["train_start", .. epoch(0, 0), .. epoch(1, 2), "train_end"];
        Assert.Equal(expected, recorder.Calls);
    }

    [Fact]
    public void An_exception_reaches_OnException_and_is_rethrown_without_OnTrainEnd()
    {
        var recorder = new RecordingCallback();
        var trainer = new FailingTrainer(Fixtures.Setup(new SmallNet(), callbacks: [recorder], batches: 2));
        var error = Assert.Throws<InvalidOperationException>(() => trainer.Run());
        Assert.Equal("boom", error.Message);
        Assert.Equal(["train_start", "epoch_start:0", "before_backward", "before_optimizer_step", "batch_end:0@1", "exception"],
            recorder.Calls);
    }
}
