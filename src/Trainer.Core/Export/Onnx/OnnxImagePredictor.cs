using Trainer.Core.Data.Images;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>The top class of one image.</summary>
/// <param name="File">The image file.</param>
/// <param name="ClassIndex">The class with the largest output.</param>
/// <param name="ClassName">Its name in the task's data.</param>
/// <param name="Probability">Its softmax probability over the outputs.</param>
public sealed record ImagePrediction(string File, int ClassIndex, string ClassName, double Probability);

/// <summary>
/// Classifies image files with an ONNX model the way an image task feeds its model: each file decoded to the task's image
/// size and channels (SkiaSharp, the task's resize mode), normalised with the task's per-channel mean and deviation, run in
/// batches through ONNX Runtime; the top class and its softmax probability per file.
/// </summary>
public static class OnnxImagePredictor
{
    /// <summary>The extensions read from a folder (those the image-folder task reads).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg"];

    /// <summary>The image files under <paramref name="folder"/> (sub-folders included), in ordinal order of their paths.</summary>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="InvalidDataException">The folder holds no image.</exception>
    public static IReadOnlyList<string> Files(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"There is no folder '{Path.GetFullPath(folder)}' of images to classify.");
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new InvalidDataException($"The folder '{Path.GetFullPath(folder)}' holds no image ({string.Join(", ", Extensions)}).");
        return files;
    }

    /// <summary>Classifies <paramref name="files"/> with <paramref name="ort"/> as <paramref name="task"/> feeds its model.</summary>
    /// <exception cref="InvalidDataException">A file is not an image the decoder reads (the message names it).</exception>
    /// <exception cref="OnnxRuntimeSessionException">The model does not take the task's images, or ONNX Runtime failed.</exception>
    public static IReadOnlyList<ImagePrediction> Predict(OnnxRuntimeSession ort, ImageClassificationTask task, IReadOnlyList<string> files, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(ort);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(files);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var shape = task.ExampleInputShape;
        var (channels, height, width) = ((int)shape[1], (int)shape[2], (int)shape[3]);
        var resize = task is ImageFolderTask folderTask ? folderTask.Options.Resize : ResizeMode.Crop;
        var imageBytes = channels * height * width;
        var predictions = new List<ImagePrediction>(files.Count);
        for (int start = 0; start < files.Count; start += batchSize)
        {
            var count = Math.Min(batchSize, files.Count - start);
            var pixels = new byte[count * imageBytes];
            for (int i = 0; i < count; i++)
                ImageDecoder.Decode(files[start + i], channels, height, width, resize, pixels.AsSpan(i * imageBytes, imageBytes));
            using var scope = NewDisposeScope();
            var input = task.Normalization.Apply(tensor(pixels, [count, channels, height, width]));
            var probabilities = ort.Run(input).softmax(1);
            var (top, index) = probabilities.max(1);
            var p = top.data<float>().ToArray();
            var k = index.data<long>().ToArray();
            for (int i = 0; i < count; i++)
            {
                var name = k[i] < task.ClassNames.Count ? task.ClassNames[(int)k[i]] : $"class {k[i]}";
                predictions.Add(new ImagePrediction(files[start + i], (int)k[i], name, p[i]));
            }
        }
        return predictions;
    }
}
