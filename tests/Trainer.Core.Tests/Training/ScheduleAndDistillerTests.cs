using Trainer.Abstractions;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Tests.Training;

public class ScheduleAndDistillerTests
{
    private static TorchSharp.Modules.OptimizerHelper Sgd(double lr) =>
        OptimizerFactory.Create(new OptimizerOptions { LearningRate = lr }, new SmallNet().parameters());

    [Fact]
    public void Step_and_cosine_schedules_follow_the_closed_forms()
    {
        var step = Sgd(1.0);
        var stepSchedule = new StepLrSchedule(step, 2, 0.5);
        var cosine = Sgd(1.0);
        var cosineSchedule = new CosineLrSchedule(cosine, 4, 0.0);
        var stepRates = new List<double>();
        var cosineRates = new List<double>();
        for (var e = 0; e < 4; e++)
        {
            stepSchedule.Step(e, null);
            cosineSchedule.Step(e, null);
            stepRates.Add(step.ParamGroups.First().LearningRate);
            cosineRates.Add(Math.Round(cosine.ParamGroups.First().LearningRate, 6));
        }
        Assert.Equal([1.0, 0.5, 0.5, 0.25], stepRates);
        Assert.Equal([0.853553, 0.5, 0.146447, 0.0], cosineRates);
    }

    [Fact]
    public void Plateau_schedule_decays_after_patience_epochs_without_improvement()
    {
        var sgd = Sgd(1.0);
        var plateau = new PlateauLrSchedule(sgd, factor: 0.1, patience: 1);
        double[] losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95];
        var rates = losses.Select((l, e) => { plateau.Step(e, l); return Math.Round(sgd.ParamGroups.First().LearningRate, 6); }).ToArray();
        Assert.Equal([1.0, 1.0, 1.0, 0.1, 0.1, 0.01], rates);
        Assert.Throws<InvalidOperationException>(() => plateau.Step(6, null));
    }

    private sealed class ExposedTrainer(TrainerSetup setup) : ClassificationTrainer(setup)
    {
        public IReadOnlyDictionary<string, torch.Tensor> Losses(Batch b) => GetTrainLosses(GetTrainBatchPredictions(b), b);
        public torch.Tensor Predictions(Batch b) => GetTrainBatchPredictions(b);
    }

    /// <summary>The losses of one training batch as the loop computes them: the trainer's own, then the hook's.</summary>
    private static IReadOnlyDictionary<string, torch.Tensor> Hooked(SmallNet student, SmallNet teacher, DistillationOptions options, Batch batch)
    {
        var trainer = new ExposedTrainer(Fixtures.Setup(student));
        var predictions = trainer.Predictions(batch);
        return new DistillationLossHook(teacher, options).Apply(new LossHookInput(student, predictions, batch, torch.CPU, trainer.Losses(batch)));
    }

    [Fact]
    public void Distillation_mixes_soft_and_hard_losses_by_alpha()
    {
        torch.manual_seed(0);
        var student = new SmallNet();
        var teacher = new SmallNet();
        student.eval();
        var batch = new FixedBatchLoader(1, 16).GetBatches(0).Single();
        var losses = Hooked(student, teacher, new DistillationOptions(Temperature: 2, Alpha: 0.25), batch);
        var hard = losses["hard_loss"].item<float>();
        var soft = losses["soft_loss"].item<float>();
        Assert.Equal(0.25 * soft + 0.75 * hard, losses[LossNames.Total].item<float>(), 5);
        Assert.True(soft > 0);
        Assert.Equal(new ExposedTrainer(Fixtures.Setup(student)).Losses(batch)[LossNames.Total].item<float>(), hard, 6);   // the trainer's own total

        // Student identical to teacher: the KL term is zero.
        Assert.Equal(0, Hooked(teacher, teacher, new DistillationOptions(), batch)["soft_loss"].item<float>(), 5);
    }

    [Fact]
    public void Distillation_rejects_a_non_positive_temperature()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new DistillationLossHook(new SmallNet(), new DistillationOptions(Temperature: 0)));
        Assert.Contains("temperature", error.Message);
    }
}
