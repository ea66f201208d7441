using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Checkpoints;
using Trainer.Core.Optimization;
using Trainer.Core.Quantization;
using Trainer.Core.Tests.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Fuzz;

/// <summary>
/// Checkpoints and quantized model files, damaged every way the fuzz suite knows: each is one exception of the reader's
/// documented type naming the file, thrown before the model changes, and never an abort inside TorchSharp.
/// </summary>
public sealed class BinaryFileFuzzTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<DamageKind, int> Damages() => new()
    {
        { DamageKind.Empty, 0 }, { DamageKind.Truncated, 1 }, { DamageKind.Truncated, 2 }, { DamageKind.Truncated, 3 },
        { DamageKind.Flipped, 1 }, { DamageKind.Flipped, 2 }, { DamageKind.Flipped, 3 }, { DamageKind.Directory, 0 },
    };

    /// <summary>Applies <paramref name="kind"/> to <paramref name="path"/>; binary files get arbitrary byte changes.</summary>
    internal static string Apply(DamageKind kind, int seed, string path) => kind switch
    {
        DamageKind.Empty => Damage.Empty(path),
        DamageKind.Truncated => Damage.Truncate(path, seed),
        DamageKind.Flipped => Damage.Flip(path, seed),
        DamageKind.Directory => Damage.WithDirectory(path),
        DamageKind.Unreadable => Damage.Unreadable(path),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>A checkpoint of a trained SmallNet with SGD momentum and the generator state in its header (about 7 kB of it).</summary>
    private string SaveCheckpoint(string name, nn.Module<Tensor, Tensor> net, params long[] input)
    {
        var optimizer = OptimizerFactory.Create(new OptimizerOptions(), net.parameters());
        using (var loss = net.call(randn(input.Length > 0 ? input : [8, 4])).sum()) loss.backward();
        optimizer.step();
        using var rng = torch.random.get_rng_state();
        var path = Path.Combine(_dir, name);
        CheckpointFile.Save(path, new CheckpointState
        {
            Epoch = 0, GlobalStep = 1, Metrics = new() { ["val/accuracy"] = 0.5 }, RngState = rng.data<byte>().ToArray(),
        }, net, optimizer);
        return path;
    }

    private static CheckpointException LoadFails(string path, nn.Module<Tensor, Tensor> net)
    {
        var before = Fixtures.Weights(net);
        var error = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(path, net,
            OptimizerFactory.Create(new OptimizerOptions(), net.parameters())));
        Assert.Contains($"'{path}'", error.Message);
        Assert.Equal(before, Fixtures.Weights(net));   // nothing was loaded
        return error;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_sparse_weights_file_is_one_CheckpointException_naming_it_before_the_network_changes(DamageKind kind, int seed)
    {
        manual_seed(seed);
        var pruned = new SmallNet();
        using (no_grad())
            foreach (var p in pruned.parameters()) p.masked_fill_(arange(p.numel()).remainder(5).ne(0).reshape(p.shape), 0.0);   // 80 % zeros
        var path = Path.Combine(_dir, "sparse.weights");
        Trainer.Core.Pruning.SparseWeightsFile.Save(path, pruned);
        Apply(kind, seed, path);
        var net = new SmallNet();
        var before = Fixtures.Weights(net);
        var error = Assert.Throws<CheckpointException>(() => CheckpointFile.LoadWeights(path, net));
        Assert.Contains($"'{path}'", error.Message);
        Assert.Equal(before, Fixtures.Weights(net));
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_checkpoint_is_one_CheckpointException_naming_it_before_the_network_changes(DamageKind kind, int seed)
    {
        manual_seed(seed);
        var path = SaveCheckpoint("last.ckpt", new SmallNet());
        var damage = Apply(kind, seed, path);
        var error = LoadFails(path, new SmallNet());
        var expected = kind switch
        {
            DamageKind.Empty => "is empty",
            DamageKind.Directory => "is a directory",
            _ => "",
        };
        Assert.True(error.Message.Contains(expected), $"{damage}: {error.Message}");
    }

    [Fact]
    public void Four_bytes_overwritten_inside_the_header_are_found_by_the_checksum_not_by_the_json_reader()
    {
        // The reported case: offset 5000 lies in the base64 generator state, which still parses as JSON.
        var path = SaveCheckpoint("best.ckpt", new SmallNet());
        var bytes = File.ReadAllBytes(path);
        Assert.True(BitConverter.ToInt32(bytes, 12) > 5000, "the header must reach offset 5000 for this case");
        "!!!!"u8.CopyTo(bytes.AsSpan(5000));
        File.WriteAllBytes(path, bytes);
        Assert.Contains("is corrupt (checksum mismatch)", LoadFails(path, new SmallNet()).Message);
    }

    [Theory]
    [InlineData("other widths")]
    [InlineData("other architecture")]
    public void A_checkpoint_of_another_network_is_refused_by_tensor_name_and_shape(string other)
    {
        var path = SaveCheckpoint("other.ckpt", other == "other widths"
            ? new SmallNet(features: 6)
            : nn.Sequential(("conv", nn.Conv2d(1, 4, 3)), ("flatten", nn.Flatten()), ("fc", nn.Linear(4, 3))), other == "other widths" ? [8, 6] : [8, 1, 3, 3]);
        var error = LoadFails(path, new SmallNet());
        Assert.True(error.DoesNotFit);
        Assert.Contains(other == "other widths" ? "'fc1.weight' is [16,6] in the checkpoint but [16,4]" : "'conv.weight' is [4,1,3,3] in the checkpoint but absent",
            error.Message);
    }

    [Fact]
    public void A_header_whose_tensor_table_contradicts_the_tensors_is_refused_before_torchsharp_reads_them()
    {
        // A format-1 file (checksum over the tensors only) whose header was edited to claim SmallNet(6)'s shapes while the
        // tensors are SmallNet(4)'s: the fingerprint passes, the entry-by-entry check of the stream does not.
        var path = SaveCheckpoint("v1.ckpt", new SmallNet());
        var bytes = File.ReadAllBytes(path);
        int headerLength = BitConverter.ToInt32(bytes, 12);
        var header = Encoding.UTF8.GetString(bytes, 16, headerLength).Replace("\"fc1.weight\":[16,4]", "\"fc1.weight\":[16,6]");
        var payload = bytes[(16 + headerLength + 8 + 32)..];
        using var file = new BinaryWriter(File.Create(path));
        file.Write("TRNCKPT\0"u8);
        file.Write(1);
        file.Write(Encoding.UTF8.GetByteCount(header));
        file.Write(Encoding.UTF8.GetBytes(header));
        file.Write((long)payload.Length);
        file.Write(SHA256.HashData(payload));
        file.Write(payload);
        file.Close();
        Assert.Contains("tensor 'fc1.weight' is [16,4] in the file but [16,6] in the network", LoadFails(path, new SmallNet(features: 6)).Message);
    }

    [Fact]
    public void A_format_1_checkpoint_still_loads()
    {
        manual_seed(5);
        var saved = new SmallNet();
        var path = SaveCheckpoint("old.ckpt", saved);
        var bytes = File.ReadAllBytes(path);
        int headerLength = BitConverter.ToInt32(bytes, 12);
        int payloadAt = 16 + headerLength + 8 + 32;
        BitConverter.GetBytes(1).CopyTo(bytes, 8);
        SHA256.HashData(bytes.AsSpan(payloadAt)).CopyTo(bytes, payloadAt - 32);
        File.WriteAllBytes(path, bytes);
        var loaded = new SmallNet(features: 4);
        CheckpointFile.LoadWeights(path, loaded);
        Assert.Equal(Fixtures.Weights(saved), Fixtures.Weights(loaded));
    }

    [UnreadableFact]
    public void An_unreadable_checkpoint_is_one_CheckpointException_saying_so()
    {
        var path = SaveCheckpoint("last.ckpt", new SmallNet());
        Damage.Unreadable(path);
        var error = Permissions.Enforced(() => LoadFails(path, new SmallNet()));
        Assert.Contains("permission denied", error.Message);
    }

    private string ExportQuantized(string name, long seed)
    {
        using var scope = NewDisposeScope();
        var model = ConvNet(seed);
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        session.Apply(Plan(new(4, QuantMethod.Naive), null, null, false, "conv", "fc"));
        var path = Path.Combine(_dir, name);
        session.Export(path, "{\"note\":\"opaque manifest\"}");
        return path;
    }

    private static InvalidDataException QuantizedLoadFails(string path, nn.Module<Tensor, Tensor> fresh)
    {
        var error = Assert.Throws<InvalidDataException>(() => QuantizedModelFile.Load(path, fresh, NullLogger.Instance));
        Assert.Contains($"'{path}'", error.Message);
        Assert.IsType<TorchSharp.Modules.Conv2d>(Modules(fresh)["conv"]);   // not wrapped: the model did not change
        return error;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_quantized_file_is_one_InvalidDataException_naming_it_before_the_model_changes(DamageKind kind, int seed)
    {
        var path = ExportQuantized("model.trnq", seed);
        var damage = Apply(kind, seed, path);
        var error = QuantizedLoadFails(path, ConvNet(seed));
        Assert.True(kind != DamageKind.Directory || error.Message.Contains("is a directory"), $"{damage}: {error.Message}");
    }

    [Fact]
    public void A_quantized_file_of_another_architecture_is_refused_naming_the_layer()
    {
        var path = ExportQuantized("model.trnq", 1);
        var other = nn.Sequential(("conv", nn.Conv2d(1, 6, 3)), ("flatten", nn.Flatten()), ("fc", nn.Linear(96, 3)));
        Assert.Contains("layer 'conv' with weight shape", QuantizedLoadFails(path, other).Message);
    }

    [UnreadableFact]
    public void An_unreadable_quantized_file_is_one_InvalidDataException_saying_so()
    {
        var path = ExportQuantized("model.trnq", 1);
        Damage.Unreadable(path);
        Assert.Contains("permission denied", Permissions.Enforced(() => QuantizedLoadFails(path, ConvNet(1))).Message);
    }
}
