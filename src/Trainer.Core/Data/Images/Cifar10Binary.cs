using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.IO;
using static TorchSharp.torch;

namespace Trainer.Core.Data.Images;

/// <summary>
/// CIFAR-10's binary batch files (the "binary version" of the data set, folder <c>cifar-10-batches-bin</c>): each file is a
/// run of 3073-byte records, one label byte (0 to 9) then the 32×32 image as 1024 red, 1024 green and 1024 blue bytes, row
/// by row. The training split is every <c>data_batch_&lt;n&gt;.bin</c> in order of n, the test split <c>test_batch.bin</c>.
/// Files of any record count are read, so small files written in the format work as the real ones do.
/// </summary>
public static class Cifar10Binary
{
    /// <summary>Image height and width.</summary>
    public const int ImageSize = 32;

    /// <summary>Colour channels.</summary>
    public const int Channels = 3;

    /// <summary>Bytes of one record: the label byte and the pixels.</summary>
    public const int RecordBytes = 1 + Channels * ImageSize * ImageSize;

    /// <summary>Number of classes.</summary>
    public const int ClassCount = 10;

    /// <summary>The test split's file.</summary>
    public const string TestFile = "test_batch.bin";

    /// <summary>The folder CIFAR-10's archive unpacks to; Data:Path may name it or the folder holding it.</summary>
    public const string ArchiveFolder = "cifar-10-batches-bin";

    /// <summary>Class names of batches.meta.txt, in label order.</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The folder holding the batch files: <paramref name="path"/> itself or its <c>cifar-10-batches-bin</c>.</summary>
    /// <exception cref="DatasetNotFoundException">Neither holds a data_batch_*.bin file, or test_batch.bin is missing.</exception>
    public static (string[] TrainFiles, string TestFile) Locate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
            throw NotFound(full, $"The CIFAR-10 folder '{full}' does not exist.");
        var folder = Directory.EnumerateFiles(full, "data_batch_*.bin").Any() || !Directory.Exists(Path.Combine(full, ArchiveFolder))
            ? full : Path.Combine(full, ArchiveFolder);
        var train = Directory.EnumerateFiles(folder, "data_batch_*.bin")
            .Select(f => (File: f, Number: int.TryParse(Path.GetFileNameWithoutExtension(f)["data_batch_".Length..], out var n) ? n : -1))
            .Where(f => f.Number >= 0).OrderBy(f => f.Number).Select(f => f.File).ToArray();
        if (train.Length == 0)
            throw NotFound(folder, $"No CIFAR-10 training file (data_batch_1.bin ... data_batch_5.bin) in '{folder}'.");
        var test = Path.Combine(folder, TestFile);
        if (!File.Exists(test) && !Directory.Exists(test))
            throw NotFound(test, $"'{folder}' has the training files but not {TestFile}, the validation split.");
        return (train, test);
    }

    /// <summary>Reads one split from <paramref name="files"/>, concatenated in order.</summary>
    /// <exception cref="InvalidDataException">A file is unreadable, empty, not a whole number of records, or has a label above 9.</exception>
    public static InMemoryImages Read(IReadOnlyList<string> files, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        var contents = files.Select(f => (File: f, Bytes: FileBytes.Read(f, "CIFAR-10 file", m => new InvalidDataException(m)))).ToList();
        foreach (var (file, bytes) in contents)
            if (bytes.Length % RecordBytes != 0)
                throw new InvalidDataException(
                    $"'{file}' is {bytes.Length} bytes, not a whole number of {RecordBytes}-byte CIFAR-10 records (1 label byte and " +
                    $"{Channels}×{ImageSize}×{ImageSize} pixels): {bytes.Length / RecordBytes} records and {bytes.Length % RecordBytes} bytes " +
                    "over. The file is truncated or not a CIFAR-10 binary batch (CIFAR-100's records have 2 label bytes); download " +
                    "the binary version again.");
        var count = contents.Sum(c => (long)c.Bytes.Length / RecordBytes);
        var pixels = GC.AllocateUninitializedArray<byte>(checked((int)(count * (RecordBytes - 1))));
        var labels = new long[count];
        long index = 0;
        foreach (var (file, bytes) in contents)
            for (var offset = 0; offset < bytes.Length; offset += RecordBytes, index++)
            {
                var label = bytes[offset];
                if (label >= ClassCount)
                    throw new InvalidDataException($"'{file}': record {offset / RecordBytes} has label {label}, not a class 0 to {ClassCount - 1}; " +
                                                   "the file is damaged or not a CIFAR-10 binary batch.");
                labels[index] = label;
                bytes.AsSpan(offset + 1, RecordBytes - 1).CopyTo(pixels.AsSpan(checked((int)(index * (RecordBytes - 1)))));
            }
        logger.LogDebug("Read {Count} CIFAR-10 images from {Files}", count, string.Join(", ", files.Select(Path.GetFileName)));
        return new InMemoryImages(tensor(pixels, [count, Channels, ImageSize, ImageSize]), tensor(labels));
    }

    private static DatasetNotFoundException NotFound(string path, string problem) => new(
        $"{problem} Set Data:Path to the folder of CIFAR-10's binary batches ({ArchiveFolder}: data_batch_1.bin to data_batch_5.bin " +
        $"and {TestFile}) or to the folder holding it.", "Data:Path", path);
}
