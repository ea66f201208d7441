using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using Trainer.Core.Tests.TensorBoard;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Quantization;

public class QuantizedModelFileTests
{
    private static readonly TensorQuantization UInt8Input = new(8, QuantMethod.MinMax, QuantizationScheme.Affine, Unsigned: true);

    public static TheoryData<string> Methods() => ["naive-per-channel+minmax", "affine-4bit+percentile", "lsq-4bit", "dorefa-3bit", "binary", "qat-folded"];

    private static QuantizationPlan PlanFor(string method) => method switch
    {
        "naive-per-channel+minmax" => Plan(new(8, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel), UInt8Input, null, false, "conv", "fc"),
        "affine-4bit+percentile" => Plan(new(4, QuantMethod.Naive, QuantizationScheme.Affine), UInt8Input with { Method = QuantMethod.Percentile, Percentile = 99 }, null, false, "conv", "fc"),
        "lsq-4bit" => Plan(new(4, QuantMethod.Lsq), new(4, QuantMethod.Lsq), null, false, "conv", "fc"),
        "dorefa-3bit" => Plan(new(3, QuantMethod.DoReFa), null, new(3, QuantMethod.DoReFa), false, "conv", "fc"),
        "binary" => Plan(new(1, QuantMethod.Binary), null, null, false, "conv", "fc"),
        _ => Plan(new(8, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel), new(8, QuantMethod.MovingAverage), new(8, QuantMethod.MovingAverage), true, "conv", "fc"),
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void Export_then_load_into_a_fresh_model_gives_the_simulated_outputs(string method)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var model = ConvNet(seed: 7);
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        session.Apply(PlanFor(method));
        using var data = Loader([16, 1, 6, 6], 8);
        session.Calibrate(data, 2);
        model.train(); // one training-mode step moves EMA ranges, BatchNorm statistics and nothing else
        using (no_grad()) model.call(randn(4, 1, 6, 6));
        model.eval();
        var x = randn(5, 1, 6, 6);
        var simulated = model.call(x);
        var path = Path.Combine(dir.Path, "model.tq");
        session.Export(path, "{\"edits\":[\"shrink conv 4->4\"]}");

        var fresh = ConvNet(seed: 99); // different weights: everything must come from the file
        var loaded = QuantizedModelFile.Load(path, fresh, NullLogger.Instance);
        Assert.Equal("{\"edits\":[\"shrink conv 4->4\"]}", loaded.ManifestJson);
        Assert.Equal(session.Applied!.Folded, loaded.Applied.Folded);
        Assert.False(fresh.training);
        var restored = fresh.call(x);
        // Decoded weights repeat the forward's float operations, so the outputs are equal bit for bit, not just to 1e-5.
        Assert.True(restored.eq(simulated).all().item<bool>(), $"{method}: max diff {(restored - simulated).abs().max().item<float>()}");
        foreach (var (a, b) in session.Layers.Zip(loaded.Applied.Layers))
            Assert.True(a.EffectiveWeight().eq(b.EffectiveWeight()).all().item<bool>(), $"{method}: weight of {a.Path} differs after loading");
    }

    [Fact]
    public void An_int8_file_of_a_model_with_a_big_linear_is_at_most_027_of_float32_and_matches_after_loading()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var model = BigLinear();
        var fp32 = QuantizedModelFile.Float32Size(model);
        var session = new QuantizationSession(model, [1, 1024], NullLogger.Instance);
        session.Apply(Plan(new(8, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel), UInt8Input, null, false, "fc1", "fc2"));
        using var data = Loader([8, 1024], 8);
        session.Calibrate(data, 1);
        model.eval();
        var x = randn(3, 1024);
        var simulated = model.call(x);
        var path = Path.Combine(dir.Path, "big.tq");
        var bytes = session.Export(path);

        Assert.Equal(new FileInfo(path).Length, bytes);
        var ratio = (double)bytes / fp32;
        Assert.InRange(ratio, 0.24, 0.27);
        var fresh = BigLinear(seed: 3);
        QuantizedModelFile.Load(path, fresh, NullLogger.Instance);
        Assert.True(fresh.call(x).allclose(simulated, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Loading_into_another_architecture_or_a_damaged_file_is_refused_before_the_model_changes()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var model = BigLinear();
        var session = new QuantizationSession(model, [1, 1024], NullLogger.Instance);
        session.Apply(Plan(new(8, QuantMethod.Naive), null, null, false, "fc1"));
        var path = Path.Combine(dir.Path, "m.tq");
        session.Export(path);

        manual_seed(0);
        var other = nn.Sequential(("fc1", nn.Linear(1024, 256)), ("relu", nn.ReLU()), ("fc2", nn.Linear(256, 10)));
        var error = Assert.Throws<InvalidDataException>(() => QuantizedModelFile.Load(path, other, NullLogger.Instance));
        Assert.Contains("'fc1'", error.Message);
        Assert.IsType<TorchSharp.Modules.Linear>(Modules(other)["fc1"]);

        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0xFF;
        var damaged = Path.Combine(dir.Path, "damaged.tq");
        File.WriteAllBytes(damaged, bytes);
        var fresh = BigLinear();
        Assert.Throws<InvalidDataException>(() => QuantizedModelFile.Load(damaged, fresh, NullLogger.Instance));
        Assert.IsType<TorchSharp.Modules.Linear>(Modules(fresh)["fc1"]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void Codes_pack_densely_and_unpack_unchanged(int bits)
    {
        var random = new Random(bits);
        var codes = Enumerable.Range(0, 101).Select(_ => (byte)random.Next(1 << bits)).ToArray();
        var packed = PackedCodes.Pack(codes, bits);
        Assert.Equal((101 * bits + 7) / 8, packed.Length);
        Assert.Equal(codes, PackedCodes.Unpack(packed, bits, 101));
    }
}
