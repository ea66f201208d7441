using Trainer.Abstractions;
using Trainer.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Data;

public sealed class TensorBatchLoaderTests : IDisposable
{
    private readonly Tensor _inputs;
    private readonly Tensor _targets;

    public TensorBatchLoaderTests()
    {
        // Sample i has input value i and target i, so a batch's targets are its sample indices.
        _inputs = arange(0, 10, dtype: ScalarType.Float32).reshape(10, 1).DetachFromDisposeScope();
        _targets = arange(0, 10, dtype: ScalarType.Int64).DetachFromDisposeScope();
    }

    public void Dispose()
    {
        _inputs.Dispose();
        _targets.Dispose();
    }

    /// <summary>Reads an epoch the way the trainer does: each MoveNext in its own step scope.</summary>
    private static List<long[]> ReadEpoch(IBatchLoader loader, int epoch)
    {
        var result = new List<long[]>();
        using var enumerator = loader.GetBatches(epoch).GetEnumerator();
        while (true)
        {
            using var step = NewDisposeScope();
            if (!enumerator.MoveNext()) break;
            var batch = enumerator.Current;
            Assert.Equal(batch.Inputs.shape[0], batch.Targets.shape[0]);
            var targets = batch.Targets.data<long>().ToArray();
            var inputs = batch.Inputs.data<float>().ToArray();
            Assert.Equal(targets.Select(t => (float)t), inputs);
            result.Add(targets);
        }
        return result;
    }

    private TensorBatchLoader Loader(int batchSize, bool shuffle, long seed = 0, bool dropLast = false, double ratio = 1.0)
        => new(_inputs, _targets, batchSize, shuffle, seed, dropLast, ratio);

    [Theory]
    [InlineData(false, new[] { 4, 4, 2 })]
    [InlineData(true, new[] { 4, 4 })]
    public void BatchCountAndSizes_FollowDropLast(bool dropLast, int[] sizes)
    {
        foreach (var shuffle in new[] { false, true })
        {
            using var loader = Loader(4, shuffle, dropLast: dropLast);
            var batches = ReadEpoch(loader, 0);
            Assert.Equal(sizes.Length, loader.BatchCount);
            Assert.Equal(sizes, batches.Select(b => b.Length));
            Assert.Equal(10, loader.SampleCount);
        }
    }

    [Fact]
    public void WithoutShuffle_KeepsTheNaturalOrder()
    {
        using var loader = Loader(3, shuffle: false);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), ReadEpoch(loader, 0).SelectMany(b => b));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), ReadEpoch(loader, 5).SelectMany(b => b));
    }

    [Fact]
    public void EveryIndexAppearsOncePerEpoch()
    {
        using var loader = Loader(3, shuffle: true, seed: 11);
        for (var epoch = 0; epoch < 4; epoch++)
        {
            var seen = ReadEpoch(loader, epoch).SelectMany(b => b).Order();
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), seen);
        }
    }

    [Fact]
    public void SameSeed_GivesIdenticalBatches()
    {
        using var a = Loader(4, shuffle: true, seed: 42);
        using var b = Loader(4, shuffle: true, seed: 42);
        for (var epoch = 0; epoch < 3; epoch++)
            Assert.Equal(ReadEpoch(a, epoch), ReadEpoch(b, epoch));
    }

    [Fact]
    public void Epoch2First_EqualsEpoch2AfterEpochs0And1()
    {
        using var resumed = Loader(4, shuffle: true, seed: 3);
        var direct = ReadEpoch(resumed, 2);

        using var unbroken = Loader(4, shuffle: true, seed: 3);
        ReadEpoch(unbroken, 0);
        ReadEpoch(unbroken, 1);
        Assert.Equal(direct, ReadEpoch(unbroken, 2));

        // Going back re-seeds too.
        Assert.Equal(ReadEpoch(unbroken, 0), ReadEpoch(Loader(4, shuffle: true, seed: 3), 0));
        Assert.Equal(direct, ReadEpoch(resumed, 2));
    }

    [Fact]
    public void DifferentEpochs_Differ()
    {
        using var loader = Loader(10, shuffle: true, seed: 5);
        var epochs = Enumerable.Range(0, 4).Select(e => string.Join(",", ReadEpoch(loader, e)[0])).ToList();
        Assert.Equal(epochs.Count, epochs.Distinct().Count());
    }

    [Fact]
    public void FirstEpochs_MatchPyTorchRandpermWithSeed0()
    {
        // Values printed by real PyTorch (Debian python3-torch 1.13.1):
        //   g = torch.Generator().manual_seed(0); torch.randperm(10, generator=g)  # twice
        // libtorch 2.10 (TorchSharp 0.107) gives the same. The often-quoted [2, 8, 4, 1, 3, 6, 7, 0, 9, 5]
        // is not what PyTorch returns for this call.
        long[] epoch0 = [4, 1, 7, 5, 3, 9, 0, 8, 6, 2];
        long[] epoch1 = [3, 9, 4, 2, 7, 8, 6, 0, 5, 1];
        using var loader = Loader(10, shuffle: true, seed: 0);
        Assert.Equal(epoch0, ReadEpoch(loader, 0).Single());
        Assert.Equal(epoch1, ReadEpoch(loader, 1).Single());

        using var generator = new torch.Generator(0);
        using var direct = randperm(10, generator: generator);
        Assert.Equal(epoch0, direct.data<long>().ToArray());
    }

    [Fact]
    public void LargeEpochs_MatchPyTorchRandperm()
    {
        // PyTorch 1.13.1: g = torch.Generator().manual_seed(42); three torch.randperm(60000, generator=g),
        // with p[:8], p[-4:] and (p * arange(60000)).sum() of each.
        (long[] Head, long[] Tail, long Checksum)[] pytorch =
        [
            ([37542, 43087, 2992, 25810, 39634, 6425, 55768, 11034], [54582, 28045, 16929, 22100], 53966354288704),
            ([20914, 55741, 10600, 4693, 19304, 14845, 7080, 55031], [53640, 11047, 43759, 56020], 54035037213115),
            ([52330, 31119, 21501, 30103, 56044, 44259, 1365, 42596], [35254, 24992, 14824, 22411], 54019139410319),
        ];
        using var targets = arange(0, 60000, dtype: ScalarType.Int64).DetachFromDisposeScope();
        using var inputs = zeros(60000, 1).DetachFromDisposeScope();
        using var loader = new TensorBatchLoader(inputs, targets, 60000, shuffle: true, seed: 42);
        foreach (var epoch in new[] { 2, 0, 1, 2 })
        {
            using var step = NewDisposeScope();
            var order = loader.GetBatches(epoch).Single().Targets.data<long>().ToArray();
            Assert.Equal(pytorch[epoch].Head, order[..8]);
            Assert.Equal(pytorch[epoch].Tail, order[^4..]);
            Assert.Equal(pytorch[epoch].Checksum, order.Select((v, i) => v * i).Sum());
        }
    }

    [Fact]
    public void SubsetRatio_KeepsAStableSeededSubset()
    {
        using var loader = Loader(3, shuffle: true, seed: 9, ratio: 0.5);
        Assert.Equal(5, loader.SampleCount);
        Assert.Equal(2, loader.BatchCount);

        using var generator = new torch.Generator(9);
        using var permutation = randperm(10, generator: generator);
        var expected = permutation.data<long>().ToArray()[..5].Order().ToArray();
        for (var epoch = 0; epoch < 3; epoch++)
            Assert.Equal(expected, ReadEpoch(loader, epoch).SelectMany(b => b).Order());

        using var ordered = Loader(2, shuffle: false, seed: 9, ratio: 0.5);
        Assert.Equal(permutation.data<long>().ToArray()[..5], ReadEpoch(ordered, 0).SelectMany(b => b));
    }

    [Fact]
    public void SubsetRatio_RoundsLikePython()
    {
        using var loader = Loader(1, shuffle: false, ratio: 0.25); // round(2.5) = 2
        Assert.Equal(2, loader.SampleCount);
    }

    [Theory]
    [InlineData(false, 1.0)]
    [InlineData(true, 1.0)]
    [InlineData(true, 0.7)]
    [InlineData(false, 0.7)]
    public void IteratingInStepScopes_LeaksNoTensor(bool shuffle, double ratio)
    {
        using var loader = Loader(3, shuffle, seed: 1, ratio: ratio);
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        ReadEpoch(loader, 0);
        ReadEpoch(loader, 3);
        using (var enumerator = loader.GetBatches(1).GetEnumerator())
        {
            // Abandoned after one batch: disposing the enumerator still frees the epoch's order.
            using var step = NewDisposeScope();
            Assert.True(enumerator.MoveNext());
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.False(_inputs.IsInvalid);
        Assert.False(_targets.IsInvalid);
    }

    [Fact]
    public void EpochOrder_SurvivesTheFirstStepScope()
    {
        // The permutation is drawn inside step 0's scope; later batches must still read it.
        using var loader = Loader(2, shuffle: true, seed: 8);
        var batches = ReadEpoch(loader, 0);
        Assert.Equal(5, batches.Count);
        Assert.Equal(10, batches.SelectMany(b => b).Distinct().Count());
    }

    [Fact]
    public void InvalidArguments_AreRejectedClearly()
    {
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => Loader(0, shuffle: false));
        Assert.Contains("Batch size", e1.Message);
        foreach (var ratio in new[] { 0.0, -0.5, 1.5, double.NaN })
        {
            var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => Loader(2, shuffle: false, ratio: ratio));
            Assert.Contains("(0, 1]", e2.Message);
        }
        using var shortTargets = zeros(9, dtype: ScalarType.Int64);
        var e3 = Assert.Throws<ArgumentException>(() => new TensorBatchLoader(_inputs, shortTargets, 2, shuffle: false));
        Assert.Contains("10", e3.Message);
        Assert.Contains("9", e3.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Loader(2, shuffle: false).GetBatches(-1));
    }
}
