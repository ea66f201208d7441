using System.Threading.Channels;
using Trainer.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Data.Images;

/// <summary>
/// A split too large to keep decoded: its files are decoded again for every batch, by a background task that works
/// <see cref="PrefetchBatches"/> batches ahead of training on <see cref="DecodeThreads"/> threads. The batch order is the
/// in-memory loader's (<see cref="TensorBatchLoader"/> over the sample indices), so both modes train on the same batches.
/// </summary>
public sealed class StreamingImages : IImageSource
{
    /// <summary>Largest number of images the normalisation is measured over (a seeded sample of the split).</summary>
    public const int NormalizationSample = 2000;

    private readonly Tensor _indices, _labels;

    /// <summary>A streaming source over <paramref name="files"/> decoded to <paramref name="shape"/>.</summary>
    public StreamingImages(ImageFileList files, ImageShape shape, int decodeThreads, int prefetchBatches)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetchBatches, 1);
        Files = files;
        Shape = shape;
        DecodeThreads = Math.Max(1, decodeThreads);
        PrefetchBatches = prefetchBatches;
        _indices = arange(files.Files.Count, dtype: ScalarType.Int64).DetachFromDisposeScope();
        _labels = tensor(files.Labels.ToArray()).DetachFromDisposeScope();
    }

    /// <summary>The split's files and labels.</summary>
    public ImageFileList Files { get; }

    /// <summary>The decoded form of each image.</summary>
    public ImageShape Shape { get; }

    /// <summary>Threads decoding one batch.</summary>
    public int DecodeThreads { get; }

    /// <summary>Batches decoded ahead of training.</summary>
    public int PrefetchBatches { get; }

    /// <inheritdoc />
    public long Count => Files.Files.Count;

    /// <inheritdoc />
    public long[] ImageShape => [Shape.Channels, Shape.Height, Shape.Width];

    /// <inheritdoc />
    public IBatchLoader PixelLoader(int batchSize, bool shuffle, long seed, double subsetRatio) =>
        new StreamingImageLoader(this, new TensorBatchLoader(_indices, _labels, batchSize, shuffle, seed, subsetRatio: subsetRatio));

    /// <summary>Measured over a seeded sample of at most <see cref="NormalizationSample"/> images (all of a smaller split).</summary>
    public PixelNormalization MeasureNormalization()
    {
        long[] chosen;
        using (var generator = new Generator(0))
        using (var order = randperm(Count, generator: generator))
            chosen = order.narrow(0, 0, Math.Min(Count, NormalizationSample)).data<long>().ToArray();
        using var sample = ImageFolderReader.DecodeAll(Files.Select(Files.Name, chosen), Shape, DecodeThreads);
        return sample.MeasureNormalization();
    }

    /// <summary>Frees the index and label tensors.</summary>
    public void Dispose()
    {
        _indices.Dispose();
        _labels.Dispose();
    }
}

/// <summary>Batches of a <see cref="StreamingImages"/> split: the index loader's batches, decoded ahead in the background.</summary>
internal sealed class StreamingImageLoader(StreamingImages images, TensorBatchLoader order) : IBatchLoader, IDisposable
{
    /// <inheritdoc />
    public long SampleCount => order.SampleCount;

    /// <inheritdoc />
    public int BatchCount => order.BatchCount;

    /// <inheritdoc />
    public IEnumerable<Batch> GetBatches(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return Enumerate(epoch);
    }

    private IEnumerable<Batch> Enumerate(int epoch)
    {
        // The epoch's sample indices, in batch order, as plain arrays the background task can read.
        var batches = new List<(long[] Indices, long[] Labels)>();
        using (NewDisposeScope())
            foreach (var batch in order.GetBatches(epoch))
                batches.Add((batch.Inputs.data<long>().ToArray(), batch.Targets.data<long>().ToArray()));

        var shape = images.Shape;
        var ready = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(images.PrefetchBatches) { SingleReader = true, SingleWriter = true });
        using var stop = new CancellationTokenSource();
        var producer = Task.Run(async () =>
        {
            try
            {
                foreach (var (indices, _) in batches)
                {
                    var files = indices.Select(i => images.Files.Files[(int)i]).ToArray();
                    var buffer = new byte[files.Length * shape.Bytes];
                    ImageFolderReader.Decode(files, 0, files.Length, shape, buffer, images.DecodeThreads);
                    await ready.Writer.WriteAsync(buffer, stop.Token).ConfigureAwait(false);
                }
                ready.Writer.Complete();
            }
            catch (Exception e)
            {
                ready.Writer.Complete(e);
            }
        });
        try
        {
            foreach (var (indices, labels) in batches)
            {
                byte[] pixels;
                try
                {
                    pixels = ready.Reader.ReadAsync().AsTask().GetAwaiter().GetResult();
                }
                catch (ChannelClosedException e) when (e.InnerException is { } inner)
                {
                    // A file that fails to decode: its own error, naming it.
                    throw inner is InvalidDataException ? inner : new InvalidDataException(inner.Message, inner);
                }
                // Created here, in the caller's step scope, like the in-memory loader's batches.
                yield return new Batch(tensor(pixels, [indices.Length, shape.Channels, shape.Height, shape.Width]), tensor(labels));
            }
        }
        finally
        {
            stop.Cancel();
            try { producer.Wait(); } catch (AggregateException) { }
        }
    }

    /// <inheritdoc />
    public void Dispose() => order.Dispose();
}
