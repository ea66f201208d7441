using Trainer.Core.Data;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Data;

/// <summary>A fact that runs only where Debian's dataset-fashion-mnist package is installed.</summary>
public sealed class RealFashionMnistFactAttribute : FactAttribute
{
    public RealFashionMnistFactAttribute()
    {
        if (!File.Exists(Path.Combine(FashionMnist.DefaultDirectory, "train-images-idx3-ubyte.gz")))
            Skip = $"Fashion-MNIST is not installed in {FashionMnist.DefaultDirectory} (sudo apt-get install -y dataset-fashion-mnist).";
    }
}

public class FashionMnistTests(ITestOutputHelper output)
{
    private static float Expected(byte pixel) => (pixel / 255f - 0.2860f) / 0.3530f;

    /// <summary>Writes a synthetic split: image i has pixel j = (i * 31 + j) % 256, label i % 10.</summary>
    private static byte[] WriteSplit(IdxTestFiles files, string prefix, int count, bool gzip, int labelCount = -1)
    {
        var pixels = new byte[count * 28 * 28];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)((i / 784 * 31 + i % 784) % 256);
        var labels = Enumerable.Range(0, labelCount < 0 ? count : labelCount).Select(i => (byte)(i % 10)).ToArray();
        var ext = gzip ? ".gz" : "";
        files.WriteIdx($"{prefix}-images-idx3-ubyte{ext}", [count, 28, 28], pixels, gzip);
        files.WriteIdx($"{prefix}-labels-idx1-ubyte{ext}", [labels.Length], labels, gzip);
        return pixels;
    }

    [Fact]
    public void Load_ReadsGzAndRawFiles_AndItsLoadersNormaliseLikePyTorch()
    {
        using var files = new IdxTestFiles();
        var trainPixels = WriteSplit(files, "train", 6, gzip: true);
        WriteSplit(files, "t10k", 3, gzip: false);

        using var data = FashionMnist.Load(files.Directory);

        Assert.Equal(new long[] { 6, 1, 28, 28 }, data.TrainImages.shape);
        Assert.Equal(new long[] { 6 }, data.TrainLabels.shape);
        Assert.Equal(new long[] { 3, 1, 28, 28 }, data.TestImages.shape);
        Assert.Equal(ScalarType.Byte, data.TrainImages.dtype);
        Assert.Equal(ScalarType.Int64, data.TrainLabels.dtype);
        Assert.Equal(trainPixels, data.TrainImages.data<byte>().ToArray());
        using (var loader = data.TestLoader(batchSize: 6))
        using (NewDisposeScope())
        {
            var batch = loader.GetBatches(0).Single();
            Assert.Equal(ScalarType.Float32, batch.Inputs.dtype);
            Assert.Equal(new long[] { 3, 1, 28, 28 }, batch.Inputs.shape);
            Assert.Equal(data.TestImages.data<byte>().ToArray().Select(Expected), batch.Inputs.data<float>().ToArray());
        }
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5 }, data.TrainLabels.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 2 }, data.TestLabels.data<long>().ToArray());
    }

    [Fact]
    public void Normalize_IsBitIdenticalToTorchvisionToTensorThenNormalize()
    {
        // PyTorch 1.13.1: x = arange(256, uint8).reshape(1,16,16); t = x.float().div(255);
        // t.sub_(mean[C,1,1]).div_(std[C,1,1]) with float32 mean 0.2860 and std 0.3530; then the sum of
        // the float32 bit patterns, plain and weighted by pixel value. (Computing in float64 and casting
        // afterwards differs in 166 of the 256 values.)
        using var scope = NewDisposeScope();
        var pixels = arange(0, 256, dtype: ScalarType.Byte).reshape(1, 16, 16);
        var values = FashionMnist.Normalize(pixels).data<float>().ToArray();
        var bits = values.Select(v => (long)BitConverter.SingleToInt32Bits(v)).ToArray();
        Assert.Equal(114112538923L, bits.Sum());
        Assert.Equal(29053013577233L, bits.Select((b, i) => b * i).Sum());
        Assert.Equal(Enumerable.Range(0, 256).Select(i => Expected((byte)i)), values);
    }

    [Fact]
    public void Load_PrefersGzOverRaw()
    {
        using var files = new IdxTestFiles();
        WriteSplit(files, "train", 4, gzip: true);
        WriteSplit(files, "train", 2, gzip: false);
        WriteSplit(files, "t10k", 2, gzip: true);

        using var data = FashionMnist.Load(files.Directory);
        Assert.Equal(4, data.TrainCount);
    }

    [Fact]
    public void Load_InsideADisposeScope_ReturnsTensorsThatOutliveIt()
    {
        using var files = new IdxTestFiles();
        WriteSplit(files, "train", 2, gzip: true);
        WriteSplit(files, "t10k", 2, gzip: true);

        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        FashionMnistData data;
        using (NewDisposeScope())
            data = FashionMnist.Load(files.Directory);

        Assert.False(data.TrainImages.IsInvalid);
        Assert.False(data.TestLabels.IsInvalid);
        Assert.Equal(before + 4, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        data.Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Load_ImageAndLabelCountsMustMatch()
    {
        using var files = new IdxTestFiles();
        WriteSplit(files, "train", 5, gzip: true, labelCount: 4);
        WriteSplit(files, "t10k", 2, gzip: true);

        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(files.Directory));
        Assert.Contains("5 images", e.Message);
        Assert.Contains("4 labels", e.Message);
    }

    [Fact]
    public void Load_ImagesMustBe28By28()
    {
        using var files = new IdxTestFiles();
        WriteSplit(files, "train", 2, gzip: true);
        WriteSplit(files, "t10k", 2, gzip: true);
        var path = files.WriteIdx("t10k-images-idx3-ubyte.gz", [2, 27, 28], new byte[2 * 27 * 28], gzip: true);

        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(files.Directory));
        Assert.Contains(path, e.Message);
        Assert.Contains("28", e.Message);
    }

    [Fact]
    public void Load_MissingFolder_ExplainsTheFix()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-fashion-mnist-" + Guid.NewGuid().ToString("N"));

        var e = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(missing));

        Assert.Contains("Data:Path", e.Message);
        Assert.Contains(missing, e.Message);
        Assert.Contains("sudo apt-get install -y dataset-fashion-mnist", e.Message);
        Assert.Equal("Data:Path", e.ConfigKey);
        Assert.Equal(missing, e.SearchedPath);
    }

    [Fact]
    public void Load_MissingFile_NamesThePathsTried()
    {
        using var files = new IdxTestFiles();
        WriteSplit(files, "train", 2, gzip: true);

        var e = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.Load(files.Directory));

        Assert.Contains(Path.Combine(files.Directory, "t10k-images-idx3-ubyte.gz"), e.Message);
        Assert.Contains(Path.Combine(files.Directory, "t10k-images-idx3-ubyte") + "'", e.Message);
        Assert.Contains("Data:Path", e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
    }

    [RealFashionMnistFact]
    public void Load_RealDataset_HasTheExpectedCountsShapesAndRange()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var data = FashionMnist.Load();
        output.WriteLine($"Loaded the real Fashion-MNIST in {clock.ElapsedMilliseconds} ms");

        Assert.Equal(new long[] { 60000, 1, 28, 28 }, data.TrainImages.shape);
        Assert.Equal(new long[] { 60000 }, data.TrainLabels.shape);
        Assert.Equal(new long[] { 10000, 1, 28, 28 }, data.TestImages.shape);
        Assert.Equal(new long[] { 10000 }, data.TestLabels.shape);
        using var scope = NewDisposeScope();
        var images = FashionMnist.Normalize(data.TrainImages);
        Assert.Equal(Expected(0), images.min().item<float>());
        Assert.Equal(Expected(255), images.max().item<float>());
        Assert.Equal(0, data.TrainLabels.min().item<long>());
        Assert.Equal(9, data.TrainLabels.max().item<long>());
        // The normalisation constants are the training set's mean and std, so it comes out near N(0, 1).
        Assert.InRange(images.mean().item<float>(), -0.01f, 0.01f);
        Assert.InRange(images.std().item<float>(), 0.99f, 1.01f);
    }
}
