using Trainer.Abstractions;
using TorchSharp;
using static TorchSharp.torch.nn.functional;

namespace Trainer.Core.Training;

/// <summary>Knowledge-distillation settings.</summary>
/// <param name="Temperature">Softening temperature applied to both logits (must be positive).</param>
/// <param name="Alpha">Weight of the soft (teacher) loss; the trainer's own total gets 1 - Alpha.</param>
public sealed record DistillationOptions(double Temperature = 4.0, double Alpha = 0.9);

/// <summary>
/// Distillation from a teacher network (Hinton et al.) as a loss hook, so it composes with any trainer whose network
/// outputs logits: total = Alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - Alpha) * the trainer's own
/// total, which is kept as "hard_loss". The teacher runs in eval mode without gradients; validation is untouched.
/// </summary>
public sealed class DistillationLossHook : ILossHook
{
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor> _teacher;
    private readonly DistillationOptions _options;
    private torch.Device? _device;

    /// <summary>Creates the hook; the teacher is put in eval mode.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive temperature or an alpha outside [0, 1].</exception>
    public DistillationLossHook(torch.nn.Module<torch.Tensor, torch.Tensor> teacher, DistillationOptions options)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.Temperature > 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"Distillation temperature must be positive, got {options.Temperature}.");
        if (options.Alpha is < 0 or > 1 || double.IsNaN(options.Alpha))
            throw new ArgumentOutOfRangeException(nameof(options), $"Distillation alpha must be in [0,1], got {options.Alpha}.");
        _teacher = teacher;
        _options = options;
        _teacher.eval();
    }

    /// <inheritdoc />
    public string Name => "distillation";

    /// <inheritdoc />
    public IReadOnlyDictionary<string, torch.Tensor> Apply(LossHookInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_device is null || _device.type != input.Device.type || _device.index != input.Device.index)
        {
            _teacher.to(input.Device).eval();
            _device = input.Device;
        }
        var hard = input.Losses[LossNames.Total];
        torch.Tensor teacherLogits;
        using (torch.no_grad()) teacherLogits = _teacher.call(input.Batch.Inputs.to(input.Device));
        if (!teacherLogits.shape.SequenceEqual(input.Predictions.shape))
            throw new InvalidOperationException($"Distillation needs the teacher's and the student's outputs to match: the teacher gives " +
                                                $"[{string.Join(",", teacherLogits.shape)}], the student [{string.Join(",", input.Predictions.shape)}].");
        var t = _options.Temperature;
        var soft = kl_div(log_softmax(input.Predictions / t, 1), log_softmax(teacherLogits / t, 1),
                       log_target: true, reduction: torch.nn.Reduction.Sum) * (t * t / input.Batch.Size);
        var losses = new Dictionary<string, torch.Tensor>(input.Losses)
        {
            ["hard_loss"] = hard,
            ["soft_loss"] = soft,
            [LossNames.Total] = soft * _options.Alpha + hard * (1 - _options.Alpha),
        };
        return losses;
    }
}
