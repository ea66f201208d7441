namespace Trainer.Core.Analysis;

/// <summary>Which layers <see cref="FlopsCounter"/> counts; the two modes of NNI's <c>count_flops_params</c>.</summary>
public enum CountMode
{
    /// <summary>
    /// Convolutions (Conv1d/2d/3d, ConvTranspose1d/2d/3d) and Linear only: their multiply-accumulates, bias not
    /// counted, and their parameters (weight and bias).
    /// </summary>
    Default,

    /// <summary>
    /// Default plus one operation per output element for a convolution's or Linear's bias, and BatchNorm1d/2d/3d,
    /// LeakyReLU, AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d and Upsample, with the parameters of every counted module.
    /// </summary>
    Full,
}
