namespace Trainer.Core.Quantization;

/// <summary>Which tensor of a layer a <see cref="TensorQuantizer"/> acts on.</summary>
public enum QuantizedTensor
{
    /// <summary>The layer's weight.</summary>
    Weight,

    /// <summary>The layer's input activation.</summary>
    Input,

    /// <summary>The layer's output activation.</summary>
    Output,
}
