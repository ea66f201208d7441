using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning;

/// <summary>The sparse weights file: bit-exact round trip, the size its encoding promises, and refusals that change nothing.</summary>
public sealed class SparseWeightsFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sparse-weights-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Conv 8→16 (1152 weights), BatchNorm (with its int64 counter), Linear 16·4·4→32 (8192 weights).</summary>
    private static nn.Module<Tensor, Tensor> Build() => nn.Sequential(
        ("conv", nn.Conv2d(8, 16, 3, padding: 1)), ("bn", nn.BatchNorm2d(16)), ("relu", nn.ReLU()), ("pool", nn.AdaptiveAvgPool2d(4)),
        ("flat", nn.Flatten()), ("fc", nn.Linear(256, 32)));

    private static nn.Module Child(nn.Module net, string name) => net.named_children().Single(c => c.name == name).module;

    /// <summary>Prunes 90 % of both weights by magnitude and makes it permanent, as the scheduled callbacks do at the end.</summary>
    private static nn.Module<Tensor, Tensor> Pruned(int seed)
    {
        torch.manual_seed(seed);
        var net = Build();
        foreach (var name in new[] { "conv", "fc" })
        {
            Prune.L1Unstructured(Child(net, name), "weight", 0.9);
            Prune.Remove(Child(net, name), "weight");
            SparseWeightsFile.ClearNegativeZeros(Child(net, name).get_parameter("weight")!);
        }
        using var _ = torch.no_grad();
        // BatchNorm's bias starts all zeros, which the file would store sparse too; trained-looking values keep it dense.
        var bn = (TorchSharp.Modules.BatchNorm2d)Child(net, "bn");
        bn.running_mean!.normal_();
        bn.bias!.normal_();
        return net;
    }

    private static Dictionary<string, byte[]> Bytes(nn.Module net) =>
        net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.contiguous().bytes.ToArray());

    [Fact]
    public void A_90_percent_sparse_model_reloads_bit_for_bit_including_negative_zero_NaN_and_int64_buffers()
    {
        using var scope = torch.NewDisposeScope();
        var net = Pruned(3);
        using (torch.no_grad())
        {
            // Values a lossy or float-converting codec would change, put where the conv was pruned (so in its bitmap-encoded
            // values): −0.0, a NaN with a payload, a subnormal.
            var flat = Child(net, "conv").get_parameter("weight")!.view(-1);
            var zeroAt = flat.eq(0).nonzero().reshape(-1).data<long>().Take(3).ToArray();
            flat[zeroAt[0]] = torch.tensor(-0.0f);
            flat[zeroAt[1]] = torch.tensor(BitConverter.Int32BitsToSingle(0x7FC0_1234));
            flat[zeroAt[2]] = torch.tensor(BitConverter.Int32BitsToSingle(0x0000_0003));
        }
        var path = Path.Combine(_dir, "model.sparse");
        var summary = SparseWeightsFile.Save(path, net);

        var fresh = Build();
        var metrics = SparseWeightsFile.Load(path, fresh);

        Assert.Empty(metrics);
        var expected = Bytes(net);
        var actual = Bytes(fresh);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());   // Prune.Remove registers 'weight' anew, after 'bias'
        foreach (var (name, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"'{name}' differs after the round trip");
        Assert.Equal(2, summary.SparseTensors);
        Assert.Equal(1152 + 8192, summary.SparseEntries);
        // PyTorch's round(0.9 · n): 1036.8 → 1037 and 7372.8 → 7373 pruned; three of the conv's zeros were overwritten above.
        Assert.Equal(1037 - 3 + 7373, summary.ZeroEntries);
    }

    [Fact]
    public void The_file_is_no_larger_than_the_bitmap_bound_one_bit_per_entry_plus_the_nonzero_values_plus_the_dense_rest()
    {
        using var scope = torch.NewDisposeScope();
        var net = Pruned(4);
        var path = Path.Combine(_dir, "model.sparse");
        var summary = SparseWeightsFile.Save(path, net);

        // conv 1152 entries with 115 kept, fc 8192 with 819 kept: ⌈n/8⌉ bitmap bytes + 4 per kept value.
        long sparseBytes = (1152 / 8 + 4 * 115) + (8192 / 8 + 4 * 819);
        long denseRest = 4 * (16 + 4 * 16 + 32) + 8;                // conv.bias, bn weight/bias/mean/var, fc.bias; bn's int64 counter
        long denseAll = 4L * (1152 + 8192) + denseRest;
        Assert.Equal(denseAll, summary.DenseBytes);
        // The header (JSON tensor table) and the 52 bytes of magic, lengths and SHA-256 come on top; 2 KB bounds them.
        Assert.InRange(summary.FileBytes, sparseBytes + denseRest, sparseBytes + denseRest + 2048);
        Assert.Equal(new FileInfo(path).Length, summary.FileBytes);
        // The ratio the encoding promises at 90 %: (1 + 32·0.1)/32 ≈ 0.13 of the dense weights, far below a dense checkpoint.
        var checkpoint = Path.Combine(_dir, "model.ckpt");
        CheckpointFile.SaveWeights(checkpoint, net);
        Assert.True(summary.FileBytes < 0.25 * new FileInfo(checkpoint).Length,
            $"sparse {summary.FileBytes} bytes against a dense checkpoint of {new FileInfo(checkpoint).Length}");
    }

    [Fact]
    public void CheckpointFile_LoadWeights_reads_a_sparse_file_so_model_checkpoints_and_manifests_may_be_one()
    {
        using var scope = torch.NewDisposeScope();
        var net = Pruned(5);
        var path = Path.Combine(_dir, "weights");
        SparseWeightsFile.Save(path, net, new Dictionary<string, double> { ["val/accuracy"] = 0.875 });
        var fresh = Build();

        var state = CheckpointFile.LoadWeights(path, fresh);

        Assert.Equal(0.875, state.Metrics["val/accuracy"]);
        var x = torch.randn(2, 8, 8, 8);
        net.eval();
        fresh.eval();
        Assert.Equal(net.call(x).data<float>().ToArray(), fresh.call(x).data<float>().ToArray());
    }

    [Fact]
    public void CompressedModel_Save_writes_sparse_weights_for_a_sparse_model_and_a_dense_checkpoint_otherwise()
    {
        using var scope = torch.NewDisposeScope();
        var identity = new ModelIdentity("test", "", "", [1, 8, 8, 8]);
        var manifest = new CompressionManifest { Model = identity, Original = new ModelMetrics(0, 0, double.NaN, double.NaN) };
        var sparse = Pruned(6);
        CompressedModel.Save(Path.Combine(_dir, "sparse.json"), Path.Combine(_dir, "sparse.weights"), manifest, sparse);
        torch.manual_seed(6);
        var dense = Build();
        CompressedModel.Save(Path.Combine(_dir, "dense.json"), Path.Combine(_dir, "dense.weights"), manifest, dense);

        Assert.True(SparseWeightsFile.IsSparseWeightsFile(Path.Combine(_dir, "sparse.weights")));
        Assert.False(SparseWeightsFile.IsSparseWeightsFile(Path.Combine(_dir, "dense.weights")));
        var reloaded = CompressedModel.Load(Path.Combine(_dir, "sparse.json"), Build, out _);
        var expected = Bytes(sparse);
        foreach (var (name, bytes) in Bytes(reloaded)) Assert.True(bytes.AsSpan().SequenceEqual(expected[name]), $"'{name}' differs after reloading the manifest");
    }

    [Fact]
    public void Negative_zeros_left_by_orig_times_mask_are_cleared_and_only_then_left_out()
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(new[] { -0.0f, 0.0f, -1.5f, 2f, -0.0f });
        Assert.Equal(2, SparseWeightsFile.ClearNegativeZeros(t));
        Assert.Equal(new[] { 0, 0, BitConverter.SingleToInt32Bits(-1.5f), BitConverter.SingleToInt32Bits(2f), 0 },
            t.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray());
        Assert.Equal(3, SparseTensorCodec.CountStored([-0.0f, 0f, 1f, -2f]));   // −0.0 is a value to the codec, stored as such
    }

    [Fact]
    public void A_damaged_or_foreign_file_is_refused_naming_it_and_the_network_is_left_as_it_was()
    {
        using var scope = torch.NewDisposeScope();
        var path = Path.Combine(_dir, "model.sparse");
        SparseWeightsFile.Save(path, Pruned(7));
        var target = Build();
        var before = Bytes(target);

        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0x40;
        var damaged = Path.Combine(_dir, "damaged.sparse");
        File.WriteAllBytes(damaged, bytes);
        var corrupt = Assert.Throws<CheckpointException>(() => SparseWeightsFile.Load(damaged, target));
        Assert.Contains("damaged.sparse", corrupt.Message);
        Assert.Contains("checksum", corrupt.Message);
        Assert.False(corrupt.DoesNotFit);

        var other = nn.Sequential(("conv", nn.Conv2d(8, 8, 3, padding: 1)), ("bn", nn.BatchNorm2d(16)), ("fc", nn.Linear(256, 32)));
        var foreign = Assert.Throws<CheckpointException>(() => SparseWeightsFile.Load(path, other));
        Assert.True(foreign.DoesNotFit);
        Assert.Matches(@"'conv\.(weight|bias)' Float32\[16", foreign.Message);

        var after = Bytes(target);
        foreach (var (name, b) in before) Assert.True(b.AsSpan().SequenceEqual(after[name]));
    }

    [Fact]
    public void A_bitmap_whose_set_bits_disagree_with_the_values_that_follow_is_refused()
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            SparseTensorCodec.Encode(new[] { 0f, 1f, 0f, 2f, 0f, 0f, 0f, 0f, 3f }, writer);
        var encoded = stream.ToArray();
        Assert.Equal(SparseTensorCodec.EncodedBytes(9, 3), encoded.Length);
        Assert.Equal(new[] { 0f, 1f, 0f, 2f, 0f, 0f, 0f, 0f, 3f },
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(SparseTensorCodec.Decode(encoded, 9)).ToArray());
        encoded[0] |= 0x01;   // one more set bit than values
        Assert.Throws<InvalidDataException>(() => SparseTensorCodec.Decode(encoded, 9));
        encoded[0] &= 0xFE;
        encoded[1] |= 0x80;   // a bit past entry 9
        Assert.Throws<InvalidDataException>(() => SparseTensorCodec.Decode(encoded, 9));
    }
}
