using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Running minimum and maximum over all batches (PyTorch's MinMaxObserver / PerChannelMinMaxObserver).</summary>
public sealed class MinMaxObserver(QuantParams p) : Observer(p)
{
    /// <inheritdoc/>
    protected override (Tensor Min, Tensor Max) BatchRange(Tensor rows) => (Shape(rows.amin(1)), Shape(rows.amax(1)));

    /// <inheritdoc/>
    protected override (Tensor Min, Tensor Max) Combine(Tensor min, Tensor max, Tensor batchMin, Tensor batchMax) =>
        (minimum(min, batchMin), maximum(max, batchMax));
}
