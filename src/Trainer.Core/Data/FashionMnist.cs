using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Data;

/// <summary>
/// Loads Fashion-MNIST from the four IDX files (gzip-compressed preferred, raw accepted) and
/// normalises it exactly as the PyTorch reference does:
/// <c>(x/255 - 0.2860)/0.3530</c> computed in float32.
/// </summary>
public static class FashionMnist
{
    /// <summary>Folder of Debian's <c>dataset-fashion-mnist</c> package.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Configuration key that points at the dataset folder.</summary>
    public const string PathConfigKey = "Data:Path";

    /// <summary>Debian package that installs the dataset in <see cref="DefaultDirectory"/>.</summary>
    public const string DebianPackage = "dataset-fashion-mnist";

    /// <summary>Mean subtracted after scaling pixels to [0, 1].</summary>
    public const float Mean = 0.2860f;

    /// <summary>Standard deviation divided by after subtracting <see cref="Mean"/>.</summary>
    public const float Std = 0.3530f;

    /// <summary>Image height and width.</summary>
    public const int ImageSize = 28;

    /// <summary>Number of classes.</summary>
    public const int ClassCount = 10;

    /// <summary>Base names (without <c>.gz</c>) of the four files, in the order train images, train labels, test images, test labels.</summary>
    public static readonly IReadOnlyList<string> FileNames =
    [
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
    ];

    /// <summary>Loads both splits from <paramref name="directory"/>.</summary>
    /// <param name="directory">Folder holding the four IDX files (<c>.gz</c> or raw).</param>
    /// <param name="logger">Optional logger.</param>
    /// <returns>Train and test tensors, detached from any dispose scope.</returns>
    /// <exception cref="DatasetNotFoundException">The folder or one of the files is missing.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt or the files do not fit together.</exception>
    public static FashionMnistData Load(string directory = DefaultDirectory, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        logger ??= NullLogger.Instance;
        var fullDirectory = Path.GetFullPath(directory);
        if (!Directory.Exists(fullDirectory))
            throw NotFound(fullDirectory, $"Fashion-MNIST folder '{fullDirectory}' does not exist.");
        var paths = FileNames.Select(name => Locate(fullDirectory, name)).ToArray();

        var clock = Stopwatch.StartNew();
        // Intermediates die with this scope; the results are detached from it (and from any outer scope).
        using var scope = NewDisposeScope();
        var (trainImages, trainLabels) = LoadSplit(paths[0], paths[1]);
        var (testImages, testLabels) = LoadSplit(paths[2], paths[3]);
        var data = new FashionMnistData(
            trainImages.DetachFromDisposeScope(), trainLabels.DetachFromDisposeScope(),
            testImages.DetachFromDisposeScope(), testLabels.DetachFromDisposeScope());
        // The decompressed files (about 55 MB of managed arrays) are garbage now; hand their memory
        // back to the system at once rather than carrying it through the whole run's peak.
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        logger.LogInformation("Loaded Fashion-MNIST from {Directory}: {Train} train and {Test} test images in {Ms} ms",
            fullDirectory, data.TrainCount, data.TestCount, clock.ElapsedMilliseconds);
        return data;
    }

    /// <summary>
    /// Turns uint8 pixels into normalised float32 of the same shape: <c>(x/255 - Mean)/Std</c>,
    /// each step in float32 like torchvision's ToTensor then Normalize. Cheap enough to run per batch.
    /// </summary>
    /// <param name="pixels">uint8 tensor of any shape.</param>
    /// <returns>A new float32 tensor in the current dispose scope.</returns>
    public static Tensor Normalize(Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.dtype != ScalarType.Byte)
            throw new ArgumentException($"Expected uint8 pixels, got {pixels.dtype}.", nameof(pixels));
        var x = pixels.to(ScalarType.Float32);
        return x.div_(255f).sub_(Mean).div_(Std);
    }

    private static (Tensor Images, Tensor Labels) LoadSplit(string imagesPath, string labelsPath)
    {
        var images = IdxReader.Read(imagesPath);
        var labels = IdxReader.Read(labelsPath);
        if (images.Dims.Length != 3 || images.Dims[1] != ImageSize || images.Dims[2] != ImageSize)
            throw new InvalidDataException(
                $"'{imagesPath}' holds dimensions [{string.Join(", ", images.Dims)}]; expected [N, {ImageSize}, {ImageSize}].");
        if (labels.Dims.Length != 1)
            throw new InvalidDataException(
                $"'{labelsPath}' holds dimensions [{string.Join(", ", labels.Dims)}]; expected [N].");
        if (images.Dims[0] != labels.Dims[0])
            throw new InvalidDataException(
                $"Image and label counts differ: '{imagesPath}' has {images.Dims[0]} images, '{labelsPath}' has {labels.Dims[0]} labels.");
        var badLabel = labels.Data.AsSpan().IndexOfAnyInRange((byte)ClassCount, byte.MaxValue);
        if (badLabel >= 0)
            throw new InvalidDataException(
                $"'{labelsPath}': label {labels.Data[badLabel]} at index {badLabel} is not a class in 0..{ClassCount - 1}.");

        // Kept as uint8 [N,1,H,W]: a quarter of the float size; loaders normalise each batch.
        var imageTensor = torch.tensor(images.Data, [images.Shape[0], 1, images.Shape[1], images.Shape[2]]);
        var labelBytes = torch.tensor(labels.Data, labels.Shape);
        var labelTensor = labelBytes.to(ScalarType.Int64);
        labelBytes.Dispose();
        return (imageTensor, labelTensor);
    }

    private static string Locate(string directory, string baseName)
    {
        var gz = Path.Combine(directory, baseName + ".gz");
        // A directory under a data file's name is a broken installation, not a missing file: say which.
        foreach (var path in new[] { gz, Path.Combine(directory, baseName) })
            if (Directory.Exists(path)) throw new InvalidDataException($"'{path}' is a directory, not a Fashion-MNIST IDX file.");
        if (File.Exists(gz)) return gz;
        var raw = Path.Combine(directory, baseName);
        if (File.Exists(raw)) return raw;
        throw NotFound(gz, $"Fashion-MNIST file not found: tried '{gz}' and '{raw}'.");
    }

    private static DatasetNotFoundException NotFound(string path, string problem) => new(
        $"{problem} Set {PathConfigKey} to a folder holding the four IDX files ({string.Join(", ", FileNames)}, each raw or .gz), " +
        $"or install them in {DefaultDirectory} with: sudo apt-get install -y {DebianPackage}",
        PathConfigKey, path);
}
