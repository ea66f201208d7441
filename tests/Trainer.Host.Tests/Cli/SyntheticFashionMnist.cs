using Trainer.Core.Tests.Data;

namespace Trainer.Host.Tests.Cli;

/// <summary>A tiny learnable Fashion-MNIST look-alike on disk: the label is drawn as a bright row.</summary>
internal sealed class SyntheticFashionMnist : IDisposable
{
    private readonly IdxTestFiles _files = new();

    public SyntheticFashionMnist(int train = 256, int test = 128)
    {
        Write("train", train, seed: 1);
        Write("t10k", test, seed: 2);
    }

    public string Directory => _files.Directory;

    private void Write(string prefix, int count, int seed)
    {
        var random = new Random(seed);
        var images = new byte[count * 28 * 28];
        var labels = new byte[count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = (byte)random.Next(10);
            for (var p = 0; p < 28 * 28; p++) images[i * 784 + p] = (byte)random.Next(40);
            for (var x = 0; x < 28; x++) images[i * 784 + (2 + 2 * labels[i]) * 28 + x] = 250;
        }
        _files.WriteIdx($"{prefix}-images-idx3-ubyte", [count, 28, 28], images, gzip: true);
        _files.WriteIdx($"{prefix}-labels-idx1-ubyte", [count], labels, gzip: true);
    }

    public void Dispose() => _files.Dispose();
}
