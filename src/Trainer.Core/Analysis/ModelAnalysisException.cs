namespace Trainer.Core.Analysis;

/// <summary>
/// A model analysis failed inside the model's forward pass. The message names the innermost module whose forward
/// was running, its type and its input shape, followed by the original error (kept as <see cref="Exception.InnerException"/>).
/// </summary>
public sealed class ModelAnalysisException : Exception
{
    /// <summary>Creates the exception for a failure inside the forward of <paramref name="layerName"/>.</summary>
    /// <param name="layerName">Module path of the failing module (empty for the model itself).</param>
    /// <param name="layerType">Class name of the failing module.</param>
    /// <param name="inputShape">Shape of the input the failing module received.</param>
    /// <param name="inner">The original error.</param>
    /// <param name="takes">What the layer takes, when known (e.g. "[N,64,H,W]"), so the message shows both shapes.</param>
    public ModelAnalysisException(string layerName, string layerType, long[] inputShape, Exception inner, string? takes = null)
        : base($"layer '{layerName}' ({layerType}) failed on input [{string.Join(",", inputShape)}]" +
               (takes is null ? "" : $"; it takes {takes}") + $": {inner.Message}", inner)
    {
        LayerName = layerName;
        LayerType = layerType;
        InputShape = inputShape;
    }

    /// <summary>Module path of the failing module (empty for the model itself).</summary>
    public string LayerName { get; }

    /// <summary>Class name of the failing module.</summary>
    public string LayerType { get; }

    /// <summary>Shape of the input the failing module received.</summary>
    public long[] InputShape { get; }
}
