using Trainer.Abstractions;
using TorchSharp;
using static TorchSharp.torch.nn.functional;

namespace Trainer.Core.Training;

/// <summary>Knowledge-distillation settings.</summary>
/// <param name="Temperature">Softening temperature applied to both logits (must be positive).</param>
/// <param name="Alpha">Weight of the soft (teacher) loss; the hard-label loss gets 1 - Alpha.</param>
public sealed record DistillationOptions(double Temperature = 4.0, double Alpha = 0.9);

/// <summary>
/// Classification trainer that also learns from a teacher network (Hinton et al.): total loss =
/// Alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - Alpha) * hard-label loss.
/// The teacher runs in eval mode without gradients. Validation uses the hard-label loss only.
/// </summary>
public class DistillerTrainer : ClassificationTrainer
{
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor> _teacher;
    private readonly DistillationOptions _options;

    /// <summary>Creates the trainer; the teacher is moved to the setup's device and put in eval mode.</summary>
    public DistillerTrainer(TrainerSetup setup, torch.nn.Module<torch.Tensor, torch.Tensor> teacher, DistillationOptions options)
        : base(setup)
    {
        if (options.Temperature <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"Distillation temperature must be positive, got {options.Temperature}.");
        if (options.Alpha is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Distillation alpha must be in [0,1], got {options.Alpha}.");
        _teacher = teacher;
        _options = options;
        _teacher.to(setup.Device).eval();
    }

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor predictions, Batch batch)
    {
        var hard = ClassificationLosses(predictions, batch)[LossNames.Total];
        torch.Tensor teacherLogits;
        using (torch.no_grad()) teacherLogits = _teacher.call(batch.Inputs.to(Device));
        var t = _options.Temperature;
        var soft = kl_div(log_softmax(predictions / t, 1), log_softmax(teacherLogits / t, 1),
                       log_target: true, reduction: torch.nn.Reduction.Sum) * (t * t / batch.Size);
        return new Dictionary<string, torch.Tensor>
        {
            ["hard_loss"] = hard,
            ["soft_loss"] = soft,
            [LossNames.Total] = soft * _options.Alpha + hard * (1 - _options.Alpha),
        };
    }
}
