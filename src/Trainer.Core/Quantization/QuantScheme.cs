namespace Trainer.Core.Quantization;

/// <summary>How real values map onto the integer grid.</summary>
public enum QuantScheme
{
    /// <summary>Zero point fixed (0 for signed grids, 2^(bits-1) for unsigned); the range is symmetric around zero.</summary>
    Symmetric,

    /// <summary>Scale and zero point cover [min, max] exactly (PyTorch's per_tensor_affine / per_channel_affine).</summary>
    Affine,
}
