using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>Options of <see cref="OnnxExporter.Export"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Replace a file already at the path (false: an existing file is an error).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Seed of the random input the forward is traced on.</summary>
    public ulong TraceSeed { get; init; } = 7;
}

/// <summary>What <see cref="OnnxExporter.Export"/> wrote.</summary>
/// <param name="Path">The ONNX file.</param>
/// <param name="FileBytes">Its size.</param>
/// <param name="Opset">The ONNX opset of the default domain.</param>
/// <param name="NodeCount">Nodes in the graph.</param>
/// <param name="OutputShape">The output's shape at the traced input (the first dimension is dynamic in the graph).</param>
public sealed record OnnxExportResult(string Path, long FileBytes, int Opset, int NodeCount, IReadOnlyList<long> OutputShape)
{
    /// <summary>Quantized layers written in QDQ form (<see cref="Quantization.QuantizedLayer"/>); 0 for a float model.</summary>
    public int QuantizedLayers { get; init; }

    /// <summary>What the export had to approximate or re-express, one line per layer and tensor (e.g. a 4-bit grid stored as
    /// int8); empty when every tensor was written in its own form.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>
/// Writes a TorchSharp model's eval-mode forward as an ONNX file (opset 17; input "input", output "output", first axis a
/// dynamic "batch"). TorchSharp has no ONNX exporter and no tracer for C# modules, so the graph comes from one forward
/// traced with module hooks: layers by the rules of <see cref="LayerEmitters"/>, containers whose forward is checked to be
/// a chain of their children, TorchVision's residual blocks, and modules that describe themselves
/// (<see cref="IOnnxExportable"/>). See docs/onnx-export.md. Check the file with <see cref="OnnxRuntimeCheck"/>.
/// </summary>
public static class OnnxExporter
{
    /// <summary>The opset written.</summary>
    public const int Opset = 17;

    /// <summary>The graph input's name.</summary>
    public const string InputName = "input";

    /// <summary>The graph output's name.</summary>
    public const string OutputName = "output";

    /// <summary>The name of the dynamic first dimension.</summary>
    public const string BatchAxis = "batch";

    // IR version 8 is the one that goes with opset 17 (onnx 1.12).
    private const long IrVersion = 8;

    /// <summary>Exports <paramref name="model"/> (its float weights are written as float32) for inputs of <paramref name="inputShape"/> to
    /// <paramref name="path"/>, written to a temporary file next to it and renamed into place.</summary>
    /// <param name="model">The model; traced in eval mode, its training mode is restored afterwards.</param>
    /// <param name="inputShape">One input's shape with its batch dimension, e.g. [1,1,28,28]; the graph's batch is dynamic,
    /// the other dimensions fixed.</param>
    /// <param name="path">The file to write (model.onnx).</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <exception cref="ArgumentException">The input shape is empty or has a non-positive dimension.</exception>
    /// <exception cref="IOException">The file exists and <see cref="OnnxExportOptions.Overwrite"/> is false.</exception>
    /// <exception cref="OnnxExportException">A module of the model cannot be written as ONNX (its path and type named).</exception>
    public static OnnxExportResult Export(nn.Module<Tensor, Tensor> model, long[] inputShape, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (inputShape.Length < 2 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape [{string.Join(",", inputShape)}] needs a batch and at least one more positive dimension",
                nameof(inputShape));
        options ??= new OnnxExportOptions();
        var full = System.IO.Path.GetFullPath(path);
        if (File.Exists(full) && !options.Overwrite)
            throw new IOException($"'{full}' exists; choose another path or set OnnxExportOptions.Overwrite to replace it");

        var builder = new OnnxGraphBuilder();
        long[] outputShape;
        using (var scope = NewDisposeScope())
        {
            // Traced where the model lives; the weights are copied to the CPU when written.
            var device = model.parameters().FirstOrDefault()?.device ?? CPU;
            var input = randn(inputShape, generator: new Generator(options.TraceSeed)).to(device);
            using var trace = ForwardTrace.Run(model, input);
            outputShape = trace.Root.Output!.shape;
            builder.UniqueName(InputName);
            builder.UniqueName(OutputName);
            var last = new OnnxGraphEmitter(builder).EmitCall(trace.Root, InputName);
            // The graph's output gets its fixed name whatever value the last node produced (even the input itself).
            var final = new NodeProto { OpType = "Identity", Name = OutputName };
            final.Input.Add(last);
            final.Output.Add(OutputName);
            builder.Graph.Node.Add(final);
            QdqRequantizer.Apply(builder);
        }
        builder.Graph.Input.Add(OnnxGraphBuilder.BatchedFloat(InputName, inputShape, BatchAxis));
        builder.Graph.Output.Add(OnnxGraphBuilder.BatchedFloat(OutputName, outputShape, BatchAxis));

        var proto = new ModelProto { IrVersion = IrVersion, ProducerName = "Trainer", Graph = builder.Graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = File.Create(temp)) proto.WriteTo(stream);
            File.Move(temp, full, options.Overwrite);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return new OnnxExportResult(full, new FileInfo(full).Length, Opset, builder.Graph.Node.Count, outputShape)
        {
            QuantizedLayers = model.modules().Count(m => m is Quantization.QuantizedLayer),
            Notes = builder.Notes.ToList(),
        };
    }
}
