namespace Trainer.Core.Export.Onnx;

/// <summary>
/// A module that describes its own ONNX nodes. The exporter cannot see what a module's C# forward computes besides its
/// children's calls (functional operations such as a residual add are not modules), so a module whose forward does more
/// than call its children one after another implements this; the exporter then emits it through <see cref="EmitOnnx"/>
/// and does not look inside it.
/// </summary>
public interface IOnnxExportable
{
    /// <summary>Adds the nodes that compute this module's eval-mode forward on <paramref name="input"/> and returns the name
    /// of the value holding its output. <see cref="OnnxEmitContext.Emit"/> emits a child with the exporter's own rules.</summary>
    /// <param name="context">Where nodes and weights go; knows this module's path and input shape.</param>
    /// <param name="input">The name of the ONNX value holding the module's input.</param>
    string EmitOnnx(OnnxEmitContext context, string input);
}

/// <summary>A module the exporter cannot write as ONNX: names it by its path in the model and its type.</summary>
public sealed class OnnxExportException : Exception
{
    /// <summary>Creates the error for the module at <paramref name="modulePath"/> of type <paramref name="moduleType"/>.</summary>
    public OnnxExportException(string modulePath, string moduleType, string reason)
        : base($"cannot export '{(modulePath.Length == 0 ? "(the model)" : modulePath)}' ({moduleType}) to ONNX: {reason}")
    {
        ModulePath = modulePath;
        ModuleType = moduleType;
    }

    /// <summary>The module's path in the model ("" for the model itself).</summary>
    public string ModulePath { get; }

    /// <summary>The module's type name.</summary>
    public string ModuleType { get; }
}
