namespace Trainer.Core.Latency;

/// <summary>What a latency table's pieces and the whole model are timed in.</summary>
public enum LatencyEngine
{
    /// <summary>TorchSharp's eager forward (inference mode), the model as it runs in this process.</summary>
    TorchSharp,

    /// <summary>ONNX Runtime: each piece and the whole model exported with <see cref="Export.Onnx.OnnxExporter"/> and run in a
    /// session of <see cref="OnnxRuntimeRunner"/> (all optimisations, prepacking on, spinning off).</summary>
    OnnxRuntime,
}
