using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// Tracks a range of observed tensors and turns it into scale/zero point with <see cref="QuantRange"/>.
/// The tracked min/max live outside every dispose scope and are released by <see cref="Dispose"/>.
/// Per tensor they are 0-dim; per channel they have one value per slice along the granularity axis.
/// </summary>
public abstract class Observer : IDisposable
{
    private Tensor? _min, _max;
    private bool _disposed;

    /// <summary>Creates an observer for <paramref name="p"/>.</summary>
    protected Observer(QuantParams p) => Settings = p ?? throw new ArgumentNullException(nameof(p));

    /// <summary>The quantization setting.</summary>
    public QuantParams Settings { get; }

    /// <summary>Tracked minimum, or null before the first batch.</summary>
    public Tensor? Min => _min;

    /// <summary>Tracked maximum, or null before the first batch.</summary>
    public Tensor? Max => _max;

    /// <summary>Number of batches observed.</summary>
    public int Batches { get; private set; }

    /// <summary>Updates the tracked range with one batch, without recording gradients.</summary>
    public void Observe(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var flat = Flatten(x.detach().to(ScalarType.Float32));
        var (lo, hi) = BatchRange(flat);
        var (newMin, newMax) = _min is null || _max is null ? (lo, hi) : Combine(_min, _max, lo, hi);
        var keepMin = newMin.clone().DetachFromDisposeScope();
        var keepMax = newMax.clone().DetachFromDisposeScope();
        _min?.Dispose();
        _max?.Dispose();
        (_min, _max) = (keepMin, keepMax);
        Batches++;
    }

    /// <summary>Scale (float32) and zero point (int64) of the tracked range.</summary>
    /// <exception cref="InvalidOperationException">Nothing observed yet.</exception>
    public (Tensor Scale, Tensor ZeroPoint) Params()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_min is null || _max is null)
            throw new InvalidOperationException($"{GetType().Name} has observed no batch; call Observe before Params.");
        return QuantRange.ComputeScaleZeroPoint(_min, _max, Settings);
    }

    /// <summary>Batch range from the flattened batch: rows are channels (per channel) or a single row (per tensor).</summary>
    protected abstract (Tensor Min, Tensor Max) BatchRange(Tensor rows);

    /// <summary>Merges the tracked range with a batch range.</summary>
    protected abstract (Tensor Min, Tensor Max) Combine(Tensor min, Tensor max, Tensor batchMin, Tensor batchMax);

    /// <summary>Returns [C, N] (channel axis first) per channel, or [1, N] per tensor; results are squeezed back by <see cref="Shape"/>.</summary>
    private Tensor Flatten(Tensor x)
    {
        if (!Settings.Granularity.PerChannel) return x.reshape(1, -1);
        var axis = Settings.Granularity.Axis;
        if (axis >= x.dim()) throw new ArgumentException($"Channel axis {axis} is out of range for a tensor of rank {x.dim()}.", nameof(x));
        return x.movedim(new long[] { axis }, new long[] { 0 }).reshape(x.shape[axis], -1);
    }

    /// <summary>Turns a per-row result of shape [rows] into the tracked shape (0-dim per tensor).</summary>
    protected Tensor Shape(Tensor perRow) => Settings.Granularity.PerChannel ? perRow : perRow.reshape(Array.Empty<long>());

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _min?.Dispose();
        _max?.Dispose();
        _min = _max = null;
        GC.SuppressFinalize(this);
    }
}
