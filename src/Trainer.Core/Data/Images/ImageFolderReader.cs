using System.Diagnostics;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Trainer.Core.Data.Images;

/// <summary>
/// Reads an image folder (<see cref="ImageFolderLayout"/>) into splits: every file's header is read first (a file that is not
/// an image, mixed channel counts or mixed sizes without a configured size stop the run before any decoding), then the
/// images are decoded once in parallel into uint8 memory, or, for a set above the memory limit, handed to a streaming
/// source that decodes each batch in the background.
/// </summary>
public static class ImageFolderReader
{
    /// <summary>The splits at <paramref name="dataPath"/>.</summary>
    /// <exception cref="InvalidDataException">An unreadable, truncated or non-image file; a class folder without images; mixed
    /// channel counts; the message names the file or folder and the fix.</exception>
    public static (IImageSource Train, IImageSource Validation, IImageSource? Test, IReadOnlyList<string> Classes) Read(
        string dataPath, ImageFolderOptions options, double validationFraction, long splitSeed, ILogger logger)
    {
        var (train, validation, test, classes) = ImageFolderLayout.Find(dataPath, validationFraction, splitSeed);
        var lists = new[] { train, validation, test }.OfType<ImageFileList>().ToList();
        var clock = Stopwatch.StartNew();
        var headers = lists.Select(l => Probe(l.Files, options.DecodeThreads)).ToList();
        var all = lists.SelectMany(l => l.Files).Zip(headers.SelectMany(h => h)).ToList();
        var channels = options.Channels ?? CommonChannels(all);
        var (height, width) = options.Height is { } h && options.Width is { } w ? (h, w) : CommonSize(all);
        var imageBytes = (long)channels * height * width;
        var total = all.Count * imageBytes;
        var inMemory = options.Loading == ImageLoading.Memory || (options.Loading == ImageLoading.Auto && total <= options.MemoryLimitBytes);
        logger.LogInformation("Image folder '{Path}': {Count} images in {Classes} classes, headers read in {Ms} ms; target [{C}, {H}, {W}], {Mode} ({MB:0} MB decoded).",
            Path.GetFullPath(dataPath), all.Count, classes.Count, clock.ElapsedMilliseconds, channels, height, width,
            inMemory ? "decoded once into memory" : "streamed (decoded per batch)", total / 1e6);

        var shape = new ImageShape(channels, height, width, options.Resize);
        var sources = new List<IImageSource>();
        try
        {
            foreach (var list in lists)
            {
                clock.Restart();
                sources.Add(inMemory ? DecodeAll(list, shape, options.DecodeThreads) : new StreamingImages(list, shape, options.DecodeThreads, options.PrefetchBatches));
                if (inMemory)
                    logger.LogInformation("Decoded {Count} {Split} images in {Ms} ms ({Rate:0} images/s).", list.Files.Count, list.Name,
                        clock.ElapsedMilliseconds, list.Files.Count / Math.Max(1e-3, clock.Elapsed.TotalSeconds));
            }
        }
        catch
        {
            foreach (var source in sources) source.Dispose();
            throw;
        }
        return (sources[0], sources[1], sources.Count > 2 ? sources[2] : null, classes);
    }

    /// <summary>Decodes every file of <paramref name="list"/> into one uint8 tensor, in chunks (a chunk's bytes at a time beside the tensor).</summary>
    public static InMemoryImages DecodeAll(ImageFileList list, ImageShape shape, int threads)
    {
        var count = list.Files.Count;
        var imageBytes = shape.Bytes;
        var pixels = empty([count, shape.Channels, shape.Height, shape.Width], ScalarType.Byte).DetachFromDisposeScope();
        try
        {
            var chunk = (int)Math.Clamp((64L << 20) / imageBytes, 1, 4096);
            var buffer = new byte[chunk * imageBytes];
            for (var start = 0; start < count; start += chunk)
            {
                var length = Math.Min(chunk, count - start);
                Decode(list.Files, start, length, shape, buffer, threads);
                using var scope = NewDisposeScope();
                var decoded = tensor(buffer, [chunk, shape.Channels, shape.Height, shape.Width]);
                pixels.narrow(0, start, length).copy_(decoded.narrow(0, 0, length));
            }
            return new InMemoryImages(pixels, tensor(list.Labels.ToArray()));
        }
        catch
        {
            pixels.Dispose();
            throw;
        }
    }

    /// <summary>Decodes files <paramref name="start"/>..+<paramref name="length"/> into consecutive slots of <paramref name="buffer"/>;
    /// the first failing file (in list order) is the error.</summary>
    internal static void Decode(IReadOnlyList<string> files, int start, int length, ImageShape shape, byte[] buffer, int threads)
    {
        var errors = new Exception?[length];
        var imageBytes = (int)shape.Bytes;
        Parallel.For(0, length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            try
            {
                ImageDecoder.Decode(files[start + i], shape.Channels, shape.Height, shape.Width, shape.Resize, buffer.AsSpan(i * imageBytes, imageBytes));
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                errors[i] = e;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first is InvalidDataException ? first : new InvalidDataException(first.Message, first);
    }

    private static ImageHeader[] Probe(IReadOnlyList<string> files, int threads)
    {
        var headers = new ImageHeader[files.Count];
        var errors = new Exception?[files.Count];
        Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            try
            {
                headers[i] = ImageDecoder.Probe(files[i]);
            }
            catch (InvalidDataException e)
            {
                errors[i] = e;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first;
        return headers;
    }

    private static int CommonChannels(List<(string File, ImageHeader Header)> all)
    {
        var groups = all.GroupBy(a => a.Header.Channels).OrderByDescending(g => g.Count()).ToList();
        if (groups.Count == 1) return groups[0].Key;
        var most = groups[0].Key;
        throw new InvalidDataException(
            "The images have mixed channel counts: " +
            string.Join("; ", groups.Select(g => $"{g.Count()} {ImageHeader.Describe(g.Key)}, e.g. '{g.First().File}'")) + ". " +
            $"Set Task:Settings:channels={most} (or 1 or 3) to convert every image on load (alpha is dropped, colour becomes luma for 1), " +
            $"or convert the files, e.g. with ImageMagick: mogrify -type {(most == 1 ? "Grayscale" : most == 3 ? "TrueColor" : "TrueColorAlpha")} <files>.");
    }

    private static (int Height, int Width) CommonSize(List<(string File, ImageHeader Header)> all)
    {
        var sizes = all.GroupBy(a => (a.Header.Height, a.Header.Width)).OrderByDescending(g => g.Count()).ToList();
        if (sizes.Count == 1) return sizes[0].Key;
        throw new InvalidDataException(
            "The images differ in size: " + string.Join("; ", sizes.Take(3).Select(g => $"{g.Count()} of {g.Key.Width}×{g.Key.Height} (width×height), e.g. '{g.First().File}'")) +
            (sizes.Count > 3 ? $"; and {sizes.Count - 3} more sizes" : "") +
            ". Set Task:Settings:image_size (e.g. 32, or 48x64 as height x width) to bring every image to one size (Task:Settings:resize: crop or stretch).");
    }
}

/// <summary>The decoded form of every image: channels, height, width, and how other sizes are brought to it.</summary>
/// <param name="Channels">1, 3 or 4.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Resize">Crop or stretch.</param>
public sealed record ImageShape(int Channels, int Height, int Width, ResizeMode Resize)
{
    /// <summary>Bytes of one decoded image.</summary>
    public long Bytes => (long)Channels * Height * Width;
}
