using Onnx;
using Xunit.Abstractions;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Models;
using Trainer.Core.Tests.Inference;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Export.Onnx;

/// <summary>The written graph's format, the extension point, and the errors: unexportable modules, existing files, files
/// ONNX Runtime refuses or that compute something else.</summary>
public sealed class OnnxExportContractTests(ITestOutputHelper output) : IDisposable
{
    private readonly OnnxScratch scratch = new();

    public void Dispose() => scratch.Dispose();

    [Fact]
    public void WrittenGraphHasOpset17NamedInputAndOutputAndDynamicBatch()
    {
        random.manual_seed(1);
        using var model = new FashionCnn();
        var export = OnnxExporter.Export(model, [1, 1, 28, 28], scratch.PathOf("model.onnx"));

        using var stream = File.OpenRead(export.Path);
        var proto = ModelProto.Parser.ParseFrom(stream);
        Assert.Equal(17, proto.OpsetImport.Single(o => o.Domain == "").Version);
        var input = Assert.Single(proto.Graph.Input);
        var graphOutput = Assert.Single(proto.Graph.Output);
        Assert.Equal("input", input.Name);
        Assert.Equal("output", graphOutput.Name);
        Assert.Equal(["batch", "", "", ""], input.Type.TensorType.Shape.Dim.Select(d => d.DimParam));
        Assert.Equal([0L, 1, 28, 28], input.Type.TensorType.Shape.Dim.Select(d => d.DimValue));
        Assert.Equal(["batch", ""], graphOutput.Type.TensorType.Shape.Dim.Select(d => d.DimParam));
        Assert.Equal(export.FileBytes, new FileInfo(export.Path).Length);
        Assert.Empty(Directory.GetFiles(scratch.Folder, "*.tmp"));
    }

    [Fact]
    public void ModelRunsInOnnxRuntimeAtBatch1AndBatch3()
    {
        random.manual_seed(2);
        using var model = OnnxTestModels.WithRandomNorms(new FashionCnn());
        var export = OnnxExporter.Export(model, [1, 1, 28, 28], scratch.PathOf("model.onnx"));
        using var scope = NewDisposeScope();
        var batch1 = OnnxRuntimeCheck.Verify(export.Path, model, [randn(1, 1, 28, 28)]);
        var batch3 = OnnxRuntimeCheck.Verify(export.Path, model, [randn(3, 1, 28, 28)]);

        Assert.InRange(batch1.MaxAbsDifference, 0, 1e-4);
        Assert.InRange(batch3.MaxAbsDifference, 0, 1e-4);
    }

    [Fact]
    public void UserResidualBlockWithoutExportRuleIsOneErrorNamingItsPathAndType()
    {
        random.manual_seed(3);
        using var model = new TinyResNet();
        var path = scratch.PathOf("model.onnx");

        var error = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model, [1, 3, 16, 16], path));
        Assert.Equal("layer1", error.ModulePath);
        Assert.Equal(typeof(TinyBlock).FullName, error.ModuleType);
        Assert.Contains("'layer1' (Trainer.Core.Tests.Inference.TinyBlock)", error.Message);
        Assert.Contains("its output is not the output of its last module call 'layer1.bn2'", error.Message);
        Assert.Contains("IOnnxExportable", error.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void LayerWithoutExportRuleIsOneErrorNamingItsPathAndType()
    {
        using var model = nn.Sequential(("features", nn.Sequential(nn.Conv2d(1, 4, 3), nn.GELU())), ("flatten", nn.Flatten()));

        var error = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model, [1, 1, 8, 8], scratch.PathOf("model.onnx")));
        Assert.Equal("features.1", error.ModulePath);
        Assert.Equal("TorchSharp.Modules.GELU", error.ModuleType);
    }

    [Fact]
    public void LayerSettingWithoutRuleIsOneErrorNamingTheLayer()
    {
        using var model = nn.Sequential(("conv", nn.Conv2d(1, 2, 3, padding: 1, padding_mode: PaddingModes.Reflect)));

        var error = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model, [1, 1, 8, 8], scratch.PathOf("model.onnx")));
        Assert.Equal("conv", error.ModulePath);
        Assert.Equal("TorchSharp.Modules.Conv2d", error.ModuleType);
        Assert.Contains("padding mode Reflect", error.Message);
    }

    [Fact]
    public void FunctionalOperationBetweenChildrenIsDetected()
    {
        using var model = new ScaledChain();

        var error = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model, [1, 4], scratch.PathOf("model.onnx")));
        Assert.Equal("", error.ModulePath);
        Assert.Contains("the input of 'second' is not the output of 'first'", error.Message);
    }

    [Fact]
    public void FunctionalFlattenBetweenChildrenIsExportedAsFlatten()
    {
        random.manual_seed(6);
        using var model = new FlattenedHead();
        var (export, check) = scratch.ExportAndCheck(model, [1, 2, 6, 6]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 3], export.OutputShape);
        // conv, Flatten, Gemm, Identity.
        Assert.Equal(4, export.NodeCount);
    }

    [Fact]
    public void ModuleDescribingItsOwnNodesExportsAndMatchesOnnxRuntime()
    {
        random.manual_seed(4);
        using var model = nn.Sequential(("stem", nn.Conv2d(2, 6, 3, padding: 1)), ("block", new ExportableResidual(6)), ("pool", nn.AdaptiveAvgPool2d(1)));
        var (export, check) = scratch.ExportAndCheck(model, [1, 2, 8, 8]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        // stem conv, block conv + relu + add, pool, Identity.
        Assert.Equal(6, export.NodeCount);
    }

    [Fact]
    public void ExistingFileIsNotOverwrittenWithoutTheOption()
    {
        using var model = nn.Sequential(nn.Linear(4, 2));
        var path = scratch.PathOf("model.onnx");
        File.WriteAllText(path, "keep me");

        var error = Assert.Throws<IOException>(() => OnnxExporter.Export(model, [1, 4], path));
        Assert.Contains("Overwrite", error.Message);
        Assert.Equal("keep me", File.ReadAllText(path));
        OnnxExporter.Export(model, [1, 4], path, new OnnxExportOptions { Overwrite = true });
        Assert.NotEqual("keep me", File.ReadAllText(path));
    }

    [Fact]
    public void FileOnnxRuntimeRefusesIsMovedAsideWithItsMessage()
    {
        var path = scratch.PathOf("bad.onnx");
        var graph = new GraphProto { Name = "bad" };
        var node = new NodeProto { OpType = "NoSuchOperator", Name = "n" };
        node.Input.Add("input");
        node.Output.Add("output");
        graph.Node.Add(node);
        graph.Input.Add(OnnxGraphBuilderProbe.Float("input"));
        graph.Output.Add(OnnxGraphBuilderProbe.Float("output"));
        var proto = new ModelProto { IrVersion = 8, Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        using (var stream = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(proto, stream);
        using var model = nn.Sequential(nn.Identity());
        using var scope = NewDisposeScope();

        var error = Assert.Throws<OnnxRuntimeRejectedException>(() => OnnxRuntimeCheck.Verify(path, model, [randn(1, 4)]));
        output.WriteLine(error.Message);
        Assert.Contains("NoSuchOperator", error.Message);
        Assert.False(File.Exists(path));
        Assert.Equal(path + ".rejected", error.RejectedPath);
        Assert.True(File.Exists(error.RejectedPath));
    }

    [Fact]
    public void OutputDifferentFromTorchSharpIsRejectedAndMovedAside()
    {
        random.manual_seed(5);
        using var model = nn.Sequential(nn.Linear(4, 3));
        var export = OnnxExporter.Export(model, [1, 4], scratch.PathOf("model.onnx"));
        using (no_grad()) ((TorchSharp.Modules.Linear)model[0]).bias!.add_(0.01);
        using var scope = NewDisposeScope();

        var error = Assert.Throws<OnnxRuntimeRejectedException>(() => OnnxRuntimeCheck.Verify(export.Path, model, [randn(2, 4)]));
        Assert.Contains("differs from TorchSharp's by 0.01", error.Message);
        Assert.False(File.Exists(export.Path));
    }

    /// <summary>Scales between its two layers with a functional operation hooks cannot see.</summary>
    private sealed class ScaledChain : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> first = nn.Linear(4, 4), second = nn.Linear(4, 2);

        public ScaledChain() : base(nameof(ScaledChain)) => RegisterComponents();

        public override Tensor forward(Tensor x) => second.call(first.call(x) * 2);
    }

    /// <summary>A head that flattens with a functional call, as TorchVision's VGG and AlexNet do.</summary>
    private sealed class FlattenedHead : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> conv = nn.Conv2d(2, 4, 3), fc = nn.Linear(4 * 4 * 4, 3);

        public FlattenedHead() : base(nameof(FlattenedHead)) => RegisterComponents();

        public override Tensor forward(Tensor x) => fc.call(conv.call(x).flatten(1));
    }

    /// <summary>relu(conv(x)) + x, described to the exporter by itself.</summary>
    private sealed class ExportableResidual : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly nn.Module<Tensor, Tensor> conv;

        public ExportableResidual(long channels) : base(nameof(ExportableResidual))
        {
            conv = nn.Conv2d(channels, channels, 3, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => conv.call(x).relu() + x;

        public string EmitOnnx(OnnxEmitContext context, string input)
        {
            var relu = context.Node("Relu", [context.Emit(conv, input)]);
            return context.Node("Add", [relu, input]);
        }
    }
}

/// <summary>Value infos for hand-built test graphs.</summary>
internal static class OnnxGraphBuilderProbe
{
    public static ValueInfoProto Float(string name)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 4 });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
