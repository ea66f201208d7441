using System.Text.Json;
using System.Text.Json.Nodes;
using Trainer.Core.IO;

namespace Trainer.Host.Jobs;

/// <summary>
/// The quantize stage's accuracy before finetuning, written beside the export before it: a resumed stage that keeps the
/// export reports the same figure as the run that made it instead of leaving it out (the calibration is not redone).
/// </summary>
public static class CalibrationRecord
{
    /// <summary>File name in the quantize stage's checkpoint folder.</summary>
    public const string FileName = "calibration.json";

    /// <summary>Writes the accuracy of the calibrated model (temporary file renamed into place).</summary>
    public static void Write(string stageCheckpointDir, double calibratedAccuracy) =>
        AtomicFile.WriteAllText(Path.Combine(stageCheckpointDir, FileName),
            new JsonObject { ["calibrated_accuracy"] = calibratedAccuracy }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>The recorded accuracy; NaN when the stage has no record (an export of an older build).</summary>
    /// <exception cref="InvalidDataException">The record is damaged, a directory, or has no finite accuracy in [0, 1]; the message names it.</exception>
    public static double Read(string stageCheckpointDir)
    {
        var path = Path.Combine(stageCheckpointDir, FileName);
        if (!FileBytes.Exists(path, "Calibration record", m => new InvalidDataException(m))) return double.NaN;
        var text = FileBytes.ReadText(path, "Calibration record", m => new InvalidDataException(m));
        try
        {
            if (JsonNode.Parse(text) is JsonObject o && o["calibrated_accuracy"] is JsonValue v && v.TryGetValue<double>(out var accuracy) && accuracy is >= 0 and <= 1)
                return accuracy;
        }
        catch (JsonException)
        {
            // Reported below.
        }
        throw new InvalidDataException($"Calibration record '{path}' is damaged: it should be {{\"calibrated_accuracy\": <number in [0, 1]>}}; " +
                                       "delete it (and quantized.trnq beside it) to quantize again.");
    }
}
