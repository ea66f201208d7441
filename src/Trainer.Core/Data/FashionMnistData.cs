using static TorchSharp.torch;

namespace Trainer.Core.Data;

/// <summary>
/// Fashion-MNIST in memory: raw images uint8 <c>[N,1,28,28]</c> (normalise batches with
/// <see cref="FashionMnist.Normalize"/>, e.g. as a loader's input transform) and labels int64 <c>[N]</c>
/// for the train (60000) and test (10000) splits. The tensors belong to no dispose scope; this
/// object owns them and frees them on <see cref="Dispose"/>.
/// </summary>
public sealed class FashionMnistData : IDisposable
{
    /// <summary>Creates the holder; it takes ownership of the four tensors.</summary>
    public FashionMnistData(Tensor trainImages, Tensor trainLabels, Tensor testImages, Tensor testLabels)
    {
        TrainImages = trainImages;
        TrainLabels = trainLabels;
        TestImages = testImages;
        TestLabels = testLabels;
    }

    /// <summary>Training images, uint8 <c>[N,1,28,28]</c>, as stored in the files.</summary>
    public Tensor TrainImages { get; }

    /// <summary>Training labels, int64 <c>[N]</c>, values 0 to 9.</summary>
    public Tensor TrainLabels { get; }

    /// <summary>Test images, uint8 <c>[N,1,28,28]</c>, as stored in the files.</summary>
    public Tensor TestImages { get; }

    /// <summary>Test labels, int64 <c>[N]</c>, values 0 to 9.</summary>
    public Tensor TestLabels { get; }

    /// <summary>Number of training samples.</summary>
    public long TrainCount => TrainLabels.shape[0];

    /// <summary>Number of test samples.</summary>
    public long TestCount => TestLabels.shape[0];

    /// <summary>Shuffled training batches, normalised per batch (PyTorch-compatible order for the seed).</summary>
    public TensorBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio = 1.0) =>
        new(TrainImages, TrainLabels, batchSize, shuffle: true, seed, subsetRatio: subsetRatio, inputTransform: FashionMnist.Normalize);

    /// <summary>Test batches in file order, normalised per batch.</summary>
    public TensorBatchLoader TestLoader(int batchSize) =>
        new(TestImages, TestLabels, batchSize, shuffle: false, inputTransform: FashionMnist.Normalize);

    /// <summary>Frees the four tensors.</summary>
    public void Dispose()
    {
        TrainImages.Dispose();
        TrainLabels.Dispose();
        TestImages.Dispose();
        TestLabels.Dispose();
    }
}
