using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Export.Onnx;

/// <summary>Quantized models (QuantizedLayer wrappers) exported as ONNX QDQ and run in ONNX Runtime.</summary>
public class OnnxQdqExportTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TensorQuantization Int8PerChannel = new(8, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel);
    private static readonly TensorQuantization UInt8Input = new(8, QuantMethod.MinMax, QuantizationScheme.Affine, Unsigned: true);
    private static readonly long[] Shape = [1, 1, 6, 6];

    /// <summary>ConvNet (conv-bn-relu-flatten-fc) with <paramref name="plan"/> applied and calibrated on 32 random samples.</summary>
    private static (nn.Module<Tensor, Tensor> Model, QuantizationSession Session) Quantized(QuantizationPlan plan, long seed = 7)
    {
        var model = ConvNet(seed);
        var session = new QuantizationSession(model, Shape, NullLogger.Instance);
        session.Apply(plan);
        using var data = Loader([32, 1, 6, 6], 8);
        session.Calibrate(data, 4);
        model.eval();
        return (model, session);
    }

    private static ModelProto Read(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

    private static TensorProto Initializer(ModelProto model, string name) => model.Graph.Initializer.Single(i => i.Name == name);

    private static float[] Floats(TensorProto t) => t.RawData.Length > 0
        ? Enumerable.Range(0, t.RawData.Length / 4).Select(i => BitConverter.ToSingle(t.RawData.Span.Slice(i * 4, 4))).ToArray()
        : t.FloatData.ToArray();

    /// <summary>Largest |ORT − TorchSharp| over <paramref name="inputs"/> (batch of any size), 1 thread.</summary>
    private static double MaxDiff(string path, nn.Module<Tensor, Tensor> model, Tensor inputs)
    {
        using var options = OnnxRuntimeCheck.CreateSessionOptions(1);
        using var session = new InferenceSession(path, options);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var expected = model.call(inputs).contiguous().data<float>().ToArray();
        var actual = Run(session, inputs);
        return expected.Zip(actual, (a, b) => (double)Math.Abs(a - b)).Max();
    }

    private static float[] Run(InferenceSession session, Tensor inputs)
    {
        var values = inputs.contiguous().data<float>().ToArray();
        using var ortInput = OrtValue.CreateTensorValueFromMemory(values, inputs.shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [OnnxExporter.InputName], [ortInput], [OnnxExporter.OutputName]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Op types of the graph ONNX Runtime runs after its optimisations (QDQ fusion included).</summary>
    private static List<string> OptimizedOps(string path)
    {
        var optimized = path + ".optimized.onnx";
        using (var options = OnnxRuntimeCheck.CreateSessionOptions(1))
        {
            options.OptimizedModelFilePath = optimized;
            options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;   // not its "NCHWc graph for this CPU only" warning
            using var session = new InferenceSession(path, options);
        }
        return Read(optimized).Graph.Node.Select(n => n.OpType).ToList();
    }

    [Fact]
    public void Int8_weights_in_the_file_are_the_projects_integer_codes_with_its_per_channel_scales()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var (model, session) = Quantized(Plan(Int8PerChannel, UInt8Input, null, false, "conv", "fc"));
        var export = OnnxExporter.Export(model, Shape, dir.PathOf("model.int8.onnx"));
        var file = Read(export.Path);
        Assert.Equal(2, export.QuantizedLayers);
        Assert.Empty(export.Notes);
        foreach (var layer in session.Layers)
        {
            // The project's int8 storage of the same weight: levels and scales must be in the file as they are.
            var stored = Int8Storage.Quantize(layer.Weight, layer.WeightQuantizer!.Params);
            var levels = Initializer(file, $"{layer.Path}.weight_int8");
            Assert.Equal((int)TensorProto.Types.DataType.Int8, levels.DataType);
            Assert.Equal(layer.Weight.shape, levels.Dims.ToArray());
            Assert.Equal(stored.Data, levels.RawData.ToByteArray().Select(b => (sbyte)b).ToArray());
            Assert.Equal(stored.Scales, Floats(Initializer(file, $"{layer.Path}.weight_scale")));
            Assert.All(Initializer(file, $"{layer.Path}.weight_zero_point").RawData.ToByteArray(), b => Assert.Equal(0, b));
            var dq = file.Graph.Node.Single(n => n.Output[0] == $"{layer.Path}.weight");
            Assert.Equal("DequantizeLinear", dq.OpType);
            Assert.Equal(0, dq.Attribute.Single(a => a.Name == "axis").I);
            // The input quantizer's per-tensor grid, uint8.
            Assert.Equal(layer.InputQuantizer!.Scale!.item<float>(), Floats(Initializer(file, $"{layer.Path}.input_scale")).Single());
            var zp = Initializer(file, $"{layer.Path}.input_zero_point");
            Assert.Equal((int)TensorProto.Types.DataType.Uint8, zp.DataType);
            Assert.Equal(layer.InputQuantizer.ZeroPoint!.item<long>(), (long)zp.RawData[0]);
        }
    }

    [Fact]
    public void A_loaded_quantized_file_exports_the_codes_it_was_saved_with()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var (model, session) = Quantized(Plan(Int8PerChannel, UInt8Input, null, false, "conv", "fc"));
        var expected = session.Layers.ToDictionary(l => l.Path, l => Int8Storage.Quantize(l.Weight, l.WeightQuantizer!.Params));
        session.Export(dir.PathOf("model.tq"));
        var fresh = ConvNet(seed: 99);
        QuantizedModelFile.Load(dir.PathOf("model.tq"), fresh, NullLogger.Instance);
        var file = Read(OnnxExporter.Export(fresh, Shape, dir.PathOf("loaded.onnx")).Path);
        foreach (var (path, stored) in expected)
        {
            Assert.Equal(stored.Data, Initializer(file, $"{path}.weight_int8").RawData.ToByteArray().Select(b => (sbyte)b).ToArray());
            Assert.Equal(stored.Scales, Floats(Initializer(file, $"{path}.weight_scale")));
        }
        using var x = randn([64, 1, 6, 6], generator: new Generator(5));
        Assert.True(MaxDiff(dir.PathOf("loaded.onnx"), fresh, x) < StepTolerance(fresh));
    }

    /// <summary>
    /// The tolerance of ORT against the fake-quantized model, from one quantization step: ORT divides by the scale where
    /// FakeQuantize multiplies by its reciprocal, and integer accumulation differs from float, so a value on a rounding
    /// boundary of fc's input grid can land one level apart (changing an output by s_in·|w|); allowing four such levels per
    /// output, plus the int32 bias rounding (s_in·s_w/2), plus float noise.
    /// </summary>
    private static double StepTolerance(nn.Module<Tensor, Tensor> model)
    {
        var fc = model.modules().OfType<QuantizedLayer>().Single(l => l.Path == "fc");
        using var w = fc.EffectiveWeight();
        float sIn = fc.InputQuantizer!.Scale!.item<float>();
        return 4 * sIn * w.abs().max().item<float>() + sIn * 0.01 + 1e-5;
    }

    [Fact]
    public void Int8_qdq_in_onnx_runtime_matches_the_fake_quantized_model_within_one_step_and_fuses_to_integer_kernels()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var (model, _) = Quantized(Plan(Int8PerChannel, UInt8Input, null, true, "conv", "fc"));
        var export = OnnxExporter.Export(model, Shape, dir.PathOf("model.int8.onnx"));
        using var x = randn([256, 1, 6, 6], generator: new Generator(5));
        double diff = MaxDiff(export.Path, model, x);
        output.WriteLine($"int8 observer, folded: max |ORT − TorchSharp| {diff:G3} (tolerance {StepTolerance(model):G3}), {export.FileBytes} B, {export.NodeCount} nodes");
        Assert.True(diff < StepTolerance(model), $"max |ORT − TorchSharp| {diff} above {StepTolerance(model)}");
        // The Q/DQ pair added after conv's Relu lets ONNX Runtime run the conv as QLinearConv and fc as an integer Gemm.
        var ops = OptimizedOps(export.Path);
        Assert.Contains("QLinearConv", ops);
        Assert.DoesNotContain("Conv", ops);
        Assert.Contains(ops, op => op is "QGemm" or "MatMulIntegerToFloat" or "DynamicQuantizeMatMul");
    }

    [Fact]
    public void A_signed_int8_activation_grid_is_stored_as_uint8_shifted_by_128_and_still_fuses()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var signedInput = new TensorQuantization(8, QuantMethod.MinMax); // symmetric, signed: zero point 0 on [-128, 127]
        var (model, session) = Quantized(Plan(Int8PerChannel, signedInput, null, true, "conv", "fc"));
        var export = OnnxExporter.Export(model, Shape, dir.PathOf("model.int8.onnx"));
        var file = Read(export.Path);
        foreach (var layer in session.Layers)
        {
            Assert.Equal(0, layer.InputQuantizer!.ZeroPoint!.item<long>());
            var zp = Initializer(file, $"{layer.Path}.input_zero_point");
            Assert.Equal((int)TensorProto.Types.DataType.Uint8, zp.DataType);
            Assert.Equal(128, zp.RawData[0]);
        }
        using var x = randn([256, 1, 6, 6], generator: new Generator(5));
        Assert.True(MaxDiff(export.Path, model, x) < StepTolerance(model));
        var ops = OptimizedOps(export.Path);
        Assert.Contains("QLinearConv", ops);
        Assert.DoesNotContain("Conv", ops);
    }

    [Fact]
    public void The_onnx_file_labels_validation_inputs_as_the_fake_quantized_model_does_within_half_a_point()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        // Labels from the float model; both the fake-quantized model and ONNX Runtime are scored against them.
        var teacher = ConvNet(7);
        teacher.eval();
        using var x = randn([2000, 1, 6, 6], generator: new Generator(21));
        Tensor labels;
        using (no_grad()) labels = teacher.call(x).argmax(1);
        var (model, _) = Quantized(Plan(Int8PerChannel, UInt8Input, null, true, "conv", "fc"));
        var export = OnnxExporter.Export(model, Shape, dir.PathOf("model.int8.onnx"));
        double fake;
        using (no_grad()) fake = model.call(x).argmax(1).eq(labels).to_type(ScalarType.Float64).mean().item<double>() * 100;
        using var options = OnnxRuntimeCheck.CreateSessionOptions(1);
        using var session = new InferenceSession(export.Path, options);
        var logits = tensor(Run(session, x), [2000, 5]);
        double ort = logits.argmax(1).eq(labels).to_type(ScalarType.Float64).mean().item<double>() * 100;
        output.WriteLine($"agreement with the float model's labels on 2000 inputs: fake-quantized {fake:F2} %, ONNX Runtime {ort:F2} %");
        Assert.InRange(fake, 50, 100); // the quantized model still does the task
        Assert.True(Math.Abs(ort - fake) <= 0.5, $"ORT {ort:F2} % vs fake-quantized {fake:F2} %");
    }

    [Fact]
    public void A_quantized_linear_on_a_rank_3_input_is_a_matmul_with_transposed_int8_weights_per_channel_along_axis_1()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        manual_seed(3);
        var model = nn.Sequential(("fc", nn.Linear(8, 4)));
        var session = new QuantizationSession(model, [1, 3, 8], NullLogger.Instance);
        session.Apply(Plan(Int8PerChannel, UInt8Input, null, false, "fc"));
        using (var data = Loader([32, 3, 8], 8)) session.Calibrate(data, 4);
        model.eval();
        var export = OnnxExporter.Export(model, [1, 3, 8], dir.PathOf("linear.onnx"));
        var file = Read(export.Path);
        var layer = session.Layers.Single();
        var stored = Int8Storage.Quantize(layer.Weight, layer.WeightQuantizer!.Params);
        var levels = Initializer(file, "fc.weight_int8");
        Assert.Equal([8L, 4L], levels.Dims.ToArray());
        var transposed = levels.RawData.ToByteArray().Select(b => (sbyte)b).ToArray();
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 8; i++) Assert.Equal(stored.Data[o * 8 + i], transposed[i * 4 + o]);
        Assert.Equal(1, file.Graph.Node.Single(n => n.Output[0] == "fc.weight").Attribute.Single(a => a.Name == "axis").I);
        Assert.Contains(file.Graph.Node, n => n.OpType == "MatMul");
        using var x = randn([16, 3, 8], generator: new Generator(5));
        float sIn = layer.InputQuantizer!.Scale!.item<float>();
        using var w = layer.EffectiveWeight();
        double tolerance = 4 * sIn * w.abs().max().item<float>() + sIn * 0.01 + 1e-5;
        Assert.True(MaxDiff(export.Path, model, x) < tolerance);
    }

    public static TheoryData<string> LowBitMethods() => ["lsq-4bit", "dorefa-4bit", "binary-weights", "naive-affine-4bit"];

    private static QuantizationPlan LowBitPlan(string method) => method switch
    {
        "lsq-4bit" => Plan(new(4, QuantMethod.Lsq), new(4, QuantMethod.Lsq), null, false, "conv", "fc"),
        "dorefa-4bit" => Plan(new(4, QuantMethod.DoReFa), new(4, QuantMethod.DoReFa), null, false, "conv", "fc"),
        "binary-weights" => Plan(new(1, QuantMethod.Binary), null, null, false, "conv", "fc"),
        _ => Plan(new(4, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel), UInt8Input with { Bits = 4 }, null, false, "conv", "fc"),
    };

    [Theory]
    [MemberData(nameof(LowBitMethods))]
    public void Low_bit_grids_export_as_the_same_integers_in_int8_with_a_note_and_match_in_onnx_runtime(string method)
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var (model, session) = Quantized(LowBitPlan(method));
        var export = OnnxExporter.Export(model, Shape, dir.PathOf("model.onnx"));
        Assert.NotEmpty(export.Notes);
        Assert.Contains(export.Notes, n => n.StartsWith("conv: ", StringComparison.Ordinal));
        var file = Read(export.Path);
        foreach (var layer in session.Layers)
        {
            // Decoded int8 levels give the weight the forward uses (DoReFa: to float rounding of 1/n).
            var levels = Initializer(file, $"{layer.Path}.weight_int8").RawData.ToByteArray().Select(b => (float)(sbyte)b).ToArray();
            var scales = Floats(Initializer(file, $"{layer.Path}.weight_scale"));
            using var decoded = tensor(levels, layer.Weight.shape) * (scales.Length == 1 ? tensor(scales[0]) : Ste.AlongAxis(tensor(scales), layer.Weight.dim(), 0));
            using var effective = layer.EffectiveWeight();
            Assert.True((decoded - effective).abs().max().item<float>() <= 1e-6f * effective.abs().max().item<float>());
            Assert.True(levels.Distinct().Count() <= (method == "binary-weights" ? 2 : 16), $"{layer.Path}: {levels.Distinct().Count()} levels");
        }
        using var x = randn([64, 1, 6, 6], generator: new Generator(5));
        double diff = MaxDiff(export.Path, model, x);
        double tolerance = method == "binary-weights" ? 1e-4 : LowBitTolerance(model);
        output.WriteLine($"{method}: max |ORT − TorchSharp| {diff:G3} (tolerance {tolerance:G3}); notes: {string.Join(" | ", export.Notes)}");
        Assert.True(diff < tolerance, $"{method}: max |ORT − TorchSharp| {diff} above {tolerance}");
    }

    // As StepTolerance, with fc's input step read from the method's grid (LSQ step, DoReFa 1/n, observer scale).
    private static double LowBitTolerance(nn.Module<Tensor, Tensor> model)
    {
        var fc = model.modules().OfType<QuantizedLayer>().Single(l => l.Path == "fc");
        var q = fc.InputQuantizer!;
        double step = q.Scale?.item<float>() ?? q.Step?.item<float>() ?? 1.0 / ((1 << q.Params.Bits) - 1);
        using var w = fc.EffectiveWeight();
        return 4 * step * w.abs().max().item<float>() + step * 0.01 + 1e-5;
    }

    [Fact]
    public void Binary_activations_have_no_qdq_form_and_are_one_error_naming_the_layer_and_method()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var (model, _) = Quantized(Plan(new(1, QuantMethod.Binary), new(1, QuantMethod.Binary), null, false, "conv", "fc"));
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model, Shape, dir.PathOf("model.onnx")));
        Assert.Equal("conv", e.ModulePath);
        Assert.Contains("input quantizer (Binary, 1 bits)", e.Message);
        Assert.Contains("never 0", e.Message);
        Assert.False(File.Exists(dir.PathOf("model.onnx")));
    }

    [Fact]
    public void Eight_bit_dorefa_weights_do_not_fit_int8_and_are_one_error()
    {
        using var scope = NewDisposeScope();
        using var dir = new OnnxScratch();
        var (model, _) = Quantized(Plan(new(8, QuantMethod.DoReFa), null, null, false, "conv", "fc"));
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model, Shape, dir.PathOf("model.onnx")));
        Assert.Equal("conv", e.ModulePath);
        Assert.Contains("weight quantizer (DoReFa, 8 bits)", e.Message);
        Assert.Contains("at most 7 bits", e.Message);
    }
}
