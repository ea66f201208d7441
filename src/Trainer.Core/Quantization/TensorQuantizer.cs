using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Quantization;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// Simulated quantization of one tensor of one layer, with the method a plan chose. Activation ranges (observers,
/// EMA) and LSQ steps update while the module is training or <see cref="Calibrating"/>, and are frozen otherwise.
/// The frozen range lives in the buffers "scale", "zero_point" and "batches", and an LSQ step in the parameter "step",
/// so the state dictionary carries everything an exported model needs.
/// </summary>
public sealed class TensorQuantizer : nn.Module<Tensor, Tensor>
{
    private readonly Observer? observer;
    private readonly Tensor? scale, zeroPoint, batches;
    private readonly Parameter? step;
    private readonly Tensor? stepReady;

    /// <summary>Creates the quantizer of <paramref name="role"/> in layer <paramref name="layer"/>.</summary>
    /// <exception cref="ArgumentException">The method does not apply to this tensor (see <see cref="QuantizationApplier"/>).</exception>
    public TensorQuantizer(string layer, QuantizedTensor role, TensorQuantization spec) : base(nameof(TensorQuantizer))
    {
        Layer = layer;
        Role = role;
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        Params = ToParams(spec);
        switch (spec.Method)
        {
            case QuantMethod.MinMax or QuantMethod.MovingAverage or QuantMethod.Percentile:
                observer = spec.Method switch
                {
                    QuantMethod.MinMax => new MinMaxObserver(Params),
                    QuantMethod.MovingAverage => new MovingAverageMinMaxObserver(Params, spec.AveragingConstant),
                    _ => new PercentileObserver(Params, spec.Percentile),
                };
                // State lives as long as the module, whatever dispose scope the wrapper was made in.
                scale = ones(Array.Empty<long>()).DetachFromDisposeScope();
                zeroPoint = zeros(Array.Empty<long>(), ScalarType.Int64).DetachFromDisposeScope();
                batches = zeros(Array.Empty<long>(), ScalarType.Int64).DetachFromDisposeScope();
                register_buffer("scale", scale);
                register_buffer("zero_point", zeroPoint);
                register_buffer("batches", batches);
                break;
            case QuantMethod.Lsq:
                step = (Parameter)new Parameter(ones(Array.Empty<long>())).DetachFromDisposeScope();
                stepReady = zeros(Array.Empty<long>(), ScalarType.Int64).DetachFromDisposeScope();
                register_parameter("step", step);
                register_buffer("step_ready", stepReady);
                break;
        }
    }

    /// <summary>Qualified path of the layer this tensor belongs to.</summary>
    public string Layer { get; }

    /// <summary>Which tensor of the layer.</summary>
    public QuantizedTensor Role { get; }

    /// <summary>What the plan asked for.</summary>
    public TensorQuantization Spec { get; }

    /// <summary>The integer grid (bits, scheme, granularity along axis 0, signedness).</summary>
    public QuantParams Params { get; }

    /// <summary>When true, activation ranges and LSQ steps update even in eval mode (calibration without training).</summary>
    public bool Calibrating { get; set; }

    /// <summary>True once the tensor's range or step is known (always true for methods that need none).</summary>
    public bool IsReady => batches is not null ? batches.item<long>() > 0 : stepReady is null || stepReady.item<long>() > 0;

    /// <summary>Frozen activation scale (observer methods), or null.</summary>
    public Tensor? Scale => scale;

    /// <summary>Frozen activation zero point (observer methods), or null.</summary>
    public Tensor? ZeroPoint => zeroPoint;

    /// <summary>The learned LSQ step, or null.</summary>
    public Parameter? Step => step;

    /// <summary>The quantization grid the plan describes.</summary>
    public static QuantParams ToParams(TensorQuantization spec) => new(
        spec.Method == QuantMethod.Binary ? 1 : spec.Bits,
        spec.Scheme == QuantizationScheme.Affine ? QuantScheme.Affine : QuantScheme.Symmetric,
        spec.Granularity == QuantizationGranularity.PerChannel ? QuantGranularity.PerChannelAlong(0) : QuantGranularity.PerTensor,
        signed: !spec.Unsigned);

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        bool updating = training || Calibrating;
        var y = Spec.Method switch
        {
            QuantMethod.Naive => Naive(x),
            QuantMethod.MinMax or QuantMethod.MovingAverage or QuantMethod.Percentile => Observed(x, updating),
            QuantMethod.DoReFa => Role == QuantizedTensor.Weight ? DoReFa.QuantizeWeights(x, Params.Bits) : DoReFa.QuantizeActivations(x, Params.Bits),
            QuantMethod.Binary => Role == QuantizedTensor.Weight ? Binarize.ScaledWeights(x, 0) : Binarize.Sign(x),
            QuantMethod.Lsq => Learned(x, updating),
            _ => throw new InvalidOperationException($"{Layer} {Role}: unknown method {Spec.Method}"),
        };
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Min/max of this very tensor (weights: no data needed).</summary>
    private Tensor Naive(Tensor x)
    {
        using var minMax = new MinMaxObserver(Params);
        minMax.Observe(x);
        var (s, zp) = minMax.Params();
        return FakeQuantize.Apply(x, s, zp, Params);
    }

    private Tensor Observed(Tensor x, bool updating)
    {
        if (updating)
        {
            observer!.Observe(x);
            var (s, zp) = observer.Params();
            using var noGrad = no_grad();
            scale!.copy_(s);
            zeroPoint!.copy_(zp);
            batches!.add_(1);
        }
        else if (batches!.item<long>() == 0)
            throw NotReady();
        return FakeQuantize.Apply(x, scale!, zeroPoint!, Params);
    }

    private Tensor Learned(Tensor x, bool updating)
    {
        if (stepReady!.item<long>() == 0)
        {
            // Weights start from themselves at once; activations from the first batch seen while training or calibrating.
            if (!updating && Role != QuantizedTensor.Weight) throw NotReady();
            InitialiseStep(x);
        }
        return LsqQuantizer.Apply(x, step!, Params);
    }

    /// <summary>Sets the LSQ step to 2·mean|x|/sqrt(Qp) (Esser et al.) and marks it ready.</summary>
    public void InitialiseStep(Tensor x)
    {
        if (step is null) throw new InvalidOperationException($"{Layer} {Role} is not quantized with LSQ.");
        using var noGrad = no_grad();
        using var init = LsqQuantizer.InitialStep(x, Params.QMax);
        step.copy_(init.clamp_min(QuantRange.Eps));
        stepReady!.fill_(1);
    }

    private InvalidOperationException NotReady() => new(
        $"the {Role.ToString().ToLowerInvariant()} range of layer '{Layer}' ({Spec.Method}) was never measured; " +
        "calibrate the model (QuantizationSession.Calibrate) or train it before evaluating");

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) observer?.Dispose();
        base.Dispose(disposing);
    }
}
