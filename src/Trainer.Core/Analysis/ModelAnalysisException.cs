namespace Trainer.Core.Analysis;

/// <summary>
/// A model could not be analysed, for example because the example input has the wrong shape.
/// The message names the layer that failed, its type and the input it received.
/// </summary>
/// <param name="message">What failed, e.g. "layer 'conv1' (Conv2d) failed on input [1,1,28,28]: ...".</param>
/// <param name="inner">The original exception.</param>
public sealed class ModelAnalysisException(string message, Exception? inner = null) : Exception(message, inner);
