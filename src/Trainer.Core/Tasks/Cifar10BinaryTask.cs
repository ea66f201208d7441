using Microsoft.Extensions.Logging;
using Trainer.Core.Data.Images;

namespace Trainer.Core.Tasks;

/// <summary>
/// The built-in task "cifar10-binary": CIFAR-10's binary batch files at Data:Path (the <c>cifar-10-batches-bin</c> folder or
/// the folder holding it), <c>data_batch_*.bin</c> for training and <c>test_batch.bin</c> as validation data (as torchvision's
/// <c>CIFAR10(train=False)</c>), held in memory as uint8. Everything else is <see cref="ImageClassificationTask"/>'s:
/// normalisation, the augmentation recipe, the model, accuracy. It has no settings beyond the image tasks' own.
/// </summary>
public sealed class Cifar10BinaryTask : ImageClassificationTask
{
    /// <summary>The name configuration picks it by (Task:Name).</summary>
    public const string TaskName = "cifar10-binary";

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <inheritdoc />
    protected override void ReadSettings(TaskSettingsReader settings)
    {
    }

    /// <inheritdoc />
    protected override ImageSplits Load(string dataPath, ILogger logger)
    {
        if (dataPath.Length == 0)
            throw new ArgumentException($"The task '{Name}' needs Data:Path: the folder of CIFAR-10's binary batches ({Cifar10Binary.ArchiveFolder}).");
        var (trainFiles, testFile) = Cifar10Binary.Locate(dataPath);
        var train = Cifar10Binary.Read(trainFiles, logger);
        try
        {
            return new ImageSplits(train, Cifar10Binary.Read([testFile], logger), null, Cifar10Binary.ClassNames);
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }
}
