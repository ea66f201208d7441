using Trainer.Core.Data;
using Trainer.Core.Tests.Data;

namespace Trainer.Host.Tests.Crash;

/// <summary>The first images of the real Fashion-MNIST (Debian's dataset-fashion-mnist) as a small IDX folder: the crash
/// harness validates on a thousand test images instead of ten thousand, which keeps each stage's accuracy passes short.</summary>
internal sealed class FashionMnistSubset : IDisposable
{
    /// <summary>Where the real data set is installed.</summary>
    public const string Source = FashionMnist.DefaultDirectory;

    private readonly IdxTestFiles _files = new();

    /// <summary>Writes the first <paramref name="train"/> training and <paramref name="test"/> test images and labels (raw IDX).</summary>
    public FashionMnistSubset(int train, int test)
    {
        Copy("train", train);
        Copy("t10k", test);
    }

    /// <summary>The folder to pass as Data:Path.</summary>
    public string Directory => _files.Directory;

    private void Copy(string prefix, int count)
    {
        foreach (var (kind, rank) in new[] { ("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1) })
        {
            var source = IdxReader.Read(Path.Combine(Source, $"{prefix}-{kind}.gz"));
            int per = source.Dims.Skip(1).Aggregate(1, (a, d) => a * d);
            int[] dims = [count, .. source.Dims.Skip(1)];
            if (dims.Length != rank || source.Dims[0] < count)
                throw new InvalidOperationException($"{Source}/{prefix}-{kind}.gz has dims [{string.Join(",", source.Dims)}]");
            _files.WriteIdx($"{prefix}-{kind}", dims, source.Data.AsSpan(0, count * per).ToArray(), gzip: false);
        }
    }

    public void Dispose() => _files.Dispose();
}
